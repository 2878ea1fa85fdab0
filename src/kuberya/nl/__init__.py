"""kuberya.nl — natural language (Korean and English) → a plan of Kubernetes API operations.

The CLI's ``ask`` uses it in three pure steps and one optional impure one::

    request = parse(text)                      # or llm_parse(text, settings) when parse refuses
    needed = facts_needed(request)             # what to look up in the cluster and image store
    plan = build_plan(request, StaticFacts(...))
    plan.steps / plan.kubectl / plan.destructive / plan.to_json()

Apps (Deployments, Pods, Services, HPAs) are planned in :mod:`~kuberya.nl.build`; one-off Jobs,
CronJobs (schedule words → cron in :mod:`~kuberya.nl.schedule`), StatefulSets and node
drain/cordon/uncordon are recognised in :mod:`~kuberya.nl.workloads` and planned in
:mod:`~kuberya.nl.build_workloads`.

Nothing here imports the rest of kuberya (import-linter enforces it) or does I/O, except
:func:`llm_parse`, which POSTs to an endpoint the caller configured.
"""

from kuberya.nl.build import build_plan
from kuberya.nl.errors import Ambiguous, CannotPlan, LLMError, NLError, NotUnderstood
from kuberya.nl.facts import ClusterFacts, DeploymentFacts, FactsNeeded, ImageFacts, StaticFacts, facts_needed
from kuberya.nl.llm import LLMSettings, llm_parse
from kuberya.nl.parse import EXAMPLES, parse
from kuberya.nl.plan import Intent, Operation, Plan, Request, Step, Verb, validate_request

__all__ = [
    "EXAMPLES",
    "Ambiguous",
    "CannotPlan",
    "ClusterFacts",
    "DeploymentFacts",
    "FactsNeeded",
    "ImageFacts",
    "Intent",
    "LLMError",
    "LLMSettings",
    "NLError",
    "NotUnderstood",
    "Operation",
    "Plan",
    "Request",
    "StaticFacts",
    "Step",
    "Verb",
    "build_plan",
    "facts_needed",
    "llm_parse",
    "parse",
    "validate_request",
]
