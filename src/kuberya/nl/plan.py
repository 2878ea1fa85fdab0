"""What a request means, and the plan of Kubernetes API operations that carries it out.

Two layers, both frozen values with no behaviour beyond checking and printing themselves:

* :class:`Request` is *what the user asked*, exactly as said — ``replicas`` is ``None`` when no
  number was given, ``namespace`` is ``None`` when none was named. The rule-based parser and the
  LLM fallback both produce it, and both go through :func:`validate_request`, so an LLM can never
  hand the CLI something the parser could not have.
* :class:`Plan` is *what will be done*: ordered :class:`Step` s, each with a description in the
  request's language, the ``kubectl`` command a human would type (the operator teaches), and an
  abstract :class:`Operation` the CLI executes through the API client. Defaults the user left out
  (one replica, the context's namespace, the HPA target) are made explicit here, in the plan, where
  the user sees them before anything happens.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from kuberya.meta.quantity import parse_quantity
from kuberya.nl.errors import NotUnderstood
from kuberya.nl.schedule import validate_cron

JSONDict = dict[str, Any]

MAX_REPLICAS = 1000
"""A ceiling against typos ("30000개"): far above anything one node runs, far below overflow."""

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
IMAGE_REF = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
CONTEXT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$")
"""kubeconfig context names are free-form (``arn:aws:eks:…``, ``gke_proj_zone_name``)."""


class Intent(enum.Enum):
    RUN_APP = "run_app"
    RUN_POD = "run_pod"
    SCALE = "scale"
    SCALE_BY = "scale_by"
    STOP = "stop"
    DELETE = "delete"
    STATUS = "status"
    LIST = "list"
    LOGS = "logs"
    SET_IMAGE = "set_image"
    ROLLBACK = "rollback"
    RESTART = "restart"
    EXPOSE = "expose"
    AUTOSCALE = "autoscale"
    RUN_JOB = "run_job"
    """One run to completion: a batch/v1 Job (``kubectl create job``)."""
    RUN_CRONJOB = "run_cronjob"
    """Runs on a ``schedule``: a batch/v1 CronJob (``kubectl create cronjob``)."""
    RUN_STATEFULSET = "run_statefulset"
    """Replicas started in order with stable names: an apps/v1 StatefulSet and its headless Service."""
    DRAIN = "drain"
    """Cordon the node, then evict its pods (DaemonSet pods excepted) honouring PodDisruptionBudgets."""
    CORDON = "cordon"
    UNCORDON = "uncordon"
    CREATE_CLAIM = "create_claim"
    """A PersistentVolumeClaim ``app`` of size ``storage`` (ReadWriteOnce, the cluster's default class)."""
    RESIZE_CLAIM = "resize_claim"
    """Grow the claim ``app`` to ``storage`` (a patch of ``spec.resources.requests.storage``)."""
    CAN_I = "can_i"
    """May ``subject`` do ``verb`` on ``resource``? (``kubectl auth can-i … --as``, a LocalSubjectAccessReview)."""
    GRANT = "grant"
    """Bind the ClusterRole ``role`` to ``subject`` in the namespace (``kubectl create rolebinding``)."""


NODE_INTENTS = frozenset({Intent.DRAIN, Intent.CORDON, Intent.UNCORDON})
"""Requests about a node, not an app: ``node`` instead of ``app`` (the only node when not named)."""


STORAGE_KINDS = ("persistentvolumeclaims", "persistentvolumes", "volumes", "storageclasses")
"""``volumes`` is the first two: the claims of the namespace and the cluster's PersistentVolumes."""
KINDS = ("pods", "deployments", "services", "all", *STORAGE_KINDS)
STORAGE_INTENTS = frozenset({Intent.CREATE_CLAIM, Intent.RESIZE_CLAIM})
ACCESS_INTENTS = frozenset({Intent.CAN_I, Intent.GRANT})
ACCESS_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
ACCESS_ROLES = ("view", "edit", "admin")
"""The user-facing ClusterRoles of upstream's bootstrap policy, which a RoleBinding grants in one namespace."""
SUBJECT_KINDS = ("User", "ServiceAccount", "Group")
_ACCESS_FIELDS = ("subject", "subject_kind", "verb", "resource", "role")
_SIZED_INTENTS = frozenset({Intent.CREATE_CLAIM, Intent.RESIZE_CLAIM, Intent.RUN_STATEFULSET})


@dataclass(frozen=True)
class Request:
    """One request, as the user said it; fields the user did not say stay ``None``/``False``."""

    intent: Intent
    app: str | None = None
    """The Deployment (or Pod) name — also the default container name and ``app=`` label; for the
    claim intents, and DELETE/STATUS of ``kind`` ``persistentvolumeclaims``, the claim's name."""
    replicas: int | None = None
    """Target replica count (RUN_APP, SCALE)."""
    delta: int | None = None
    """Signed change of replicas (SCALE_BY): ``+2`` for "2개 더", ``-1`` for "하나 줄여"."""
    image: str | None = None
    port: int | None = None
    namespace: str | None = None
    context: str | None = None
    """A kubeconfig context ("gke-prod에서") — the CLI talks to that cluster instead."""
    kind: str | None = None
    """What to LIST (``pods``/``deployments``/``services``/``all``); ``pods`` on DELETE means the Pod."""
    cpu_percent: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    revision: int | None = None
    follow: bool = False
    tail: int | None = None
    all: bool = False
    """"everything" — STOP or DELETE of every app in the namespace (always confirmed)."""
    schedule: str | None = None
    """A five-field cron expression (RUN_CRONJOB): "매일 새벽 3시" is ``0 3 * * *``."""
    node: str | None = None
    """The node to DRAIN/CORDON/UNCORDON; ``None``: the cluster's only node."""
    command: tuple[str, ...] | None = None
    """What a Job or CronJob runs, said after ``--`` as with ``kubectl create job NAME -- CMD``."""
    storage: str | None = None
    """A size as a Kubernetes quantity (``1Gi``, ``500M``): of the claim (CREATE_CLAIM, RESIZE_CLAIM),
    or of each replica's claim from the StatefulSet's ``volumeClaimTemplates`` (RUN_STATEFULSET)."""
    subject: str | None = None
    """Who CAN_I asks about or GRANT gives to: a user (``alice``) or a service account's name (``ci``)."""
    subject_kind: str | None = None
    """``User`` (the default), ``ServiceAccount`` (in the request's namespace) or ``Group``."""
    verb: str | None = None
    """The API verb CAN_I asks about (``delete``)."""
    resource: str | None = None
    """The plural resource CAN_I asks about (``pods``, ``deployments``)."""
    role: str | None = None
    """The ClusterRole GRANT binds: ``view``, ``edit`` or ``admin``."""
    language: str = "en"
    """``ko`` or ``en``: the language the plan describes itself in. Not part of the meaning."""

    def to_dict(self) -> JSONDict:
        out = asdict(self)
        out["intent"] = self.intent.value
        out["command"] = list(self.command) if self.command is not None else None
        return out

    @classmethod
    def from_dict(cls, data: object) -> Request:
        """Build a request from untrusted JSON (the LLM's answer), then :func:`validate_request` it."""
        if not isinstance(data, dict):
            raise NotUnderstood(f"expected a JSON object describing the request, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise NotUnderstood(f"unknown request field(s): {', '.join(unknown)}")
        raw_intent = data.get("intent")
        try:
            intent = Intent(str(raw_intent).lower())
        except ValueError:
            choices = ", ".join(i.value for i in Intent)
            raise NotUnderstood(f"unknown intent {raw_intent!r}; expected one of {choices}") from None
        values: dict[str, Any] = {"intent": intent}
        for name, value in data.items():
            if name == "intent" or value is None:
                continue
            values[name] = _coerce(name, value)
        return validate_request(cls(**values))


_INT_FIELDS = {"replicas", "delta", "port", "cpu_percent", "min_replicas", "max_replicas", "revision", "tail"}
_BOOL_FIELDS = {"follow", "all"}
_LIST_FIELDS = {"command"}


def _coerce(name: str, value: object) -> object:
    if name in _INT_FIELDS:
        # bool is an int in Python; an LLM writing `true` for a count is an error, not 1.
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise NotUnderstood(f"field {name} must be an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise NotUnderstood(f"field {name} must be an integer, got {value!r}") from None
    if name in _LIST_FIELDS:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise NotUnderstood(f"field {name} must be a non-empty list of strings, got {value!r}")
        return tuple(value)
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise NotUnderstood(f"field {name} must be true or false, got {value!r}")
        return value
    if not isinstance(value, str):
        raise NotUnderstood(f"field {name} must be a string, got {value!r}")
    return value


# What each intent cannot do without; the parser's own checks and the LLM's answers meet here.
_REQUIRED: dict[Intent, tuple[str, ...]] = {
    Intent.RUN_APP: ("app",),
    Intent.RUN_POD: ("app",),
    Intent.SCALE: ("app", "replicas"),
    Intent.SCALE_BY: ("app", "delta"),
    Intent.STATUS: ("app",),
    Intent.LIST: ("kind",),
    Intent.LOGS: ("app",),
    Intent.SET_IMAGE: ("app", "image"),
    Intent.ROLLBACK: ("app",),
    Intent.RESTART: ("app",),
    Intent.EXPOSE: ("app",),
    Intent.AUTOSCALE: ("app",),
    Intent.RUN_JOB: ("app",),
    Intent.RUN_CRONJOB: ("app", "schedule"),
    Intent.RUN_STATEFULSET: ("app",),
    Intent.CREATE_CLAIM: ("app", "storage"),
    Intent.RESIZE_CLAIM: ("app", "storage"),
    Intent.CAN_I: ("subject", "verb", "resource"),
    Intent.GRANT: ("subject", "role"),
}
_COMMAND_INTENTS = frozenset({Intent.RUN_JOB, Intent.RUN_CRONJOB})


def validate_request(request: Request) -> Request:
    """Check a request is complete and well-formed; return it (``language`` normalised)."""
    r = request
    for name in _REQUIRED.get(r.intent, ()):
        if getattr(r, name) is None:
            raise NotUnderstood(f"{r.intent.value} needs {'a number of replicas' if name == 'replicas' else name}")
    if r.intent in (Intent.STOP, Intent.DELETE) and r.app is None and not r.all:
        raise NotUnderstood(f"{r.intent.value} needs an app name (or 'everything')")
    if r.intent in NODE_INTENTS and r.app is not None:
        raise NotUnderstood(f"{r.intent.value} is about a node, not an app ({r.app})")
    if r.node is not None and (r.intent not in NODE_INTENTS or not DNS_SUBDOMAIN.match(r.node)):
        raise NotUnderstood(f"{r.node!r} is not a node name for {r.intent.value}")
    if r.schedule is not None:
        if r.intent is not Intent.RUN_CRONJOB:
            raise NotUnderstood(f"only a cronjob runs on a schedule, not {r.intent.value}")
        validate_cron(r.schedule)
    if r.command is not None and (r.intent not in _COMMAND_INTENTS or not r.command):
        raise NotUnderstood(f"a command (after --) is for jobs and cronjobs, not {r.intent.value}")
    if r.storage is not None:
        if r.intent not in _SIZED_INTENTS:
            raise NotUnderstood(f"a size ({r.storage}) is for a claim or a statefulset's volumes, not {r.intent.value}")
        validate_storage(r.storage)
    if r.app is not None and not DNS_SUBDOMAIN.match(r.app):
        raise NotUnderstood(f"{r.app!r} is not a valid Kubernetes name (lowercase letters, digits and '-')")
    if r.namespace is not None and not DNS_LABEL.match(r.namespace):
        raise NotUnderstood(f"{r.namespace!r} is not a valid namespace name")
    if r.context is not None and not CONTEXT_NAME.match(r.context):
        raise NotUnderstood(f"{r.context!r} is not a valid kubeconfig context name")
    if r.image is not None and not IMAGE_REF.match(r.image):
        raise NotUnderstood(f"{r.image!r} is not a valid image reference")
    if r.kind is not None and r.kind not in KINDS:
        raise NotUnderstood(f"kind must be one of {', '.join(KINDS)}, got {r.kind!r}")
    for name in ("replicas", "min_replicas", "max_replicas"):
        value = getattr(r, name)
        if value is not None and not 0 <= value <= MAX_REPLICAS:
            raise NotUnderstood(f"{name} must be between 0 and {MAX_REPLICAS}, got {value}")
    if r.delta is not None and (r.delta == 0 or abs(r.delta) > MAX_REPLICAS):
        raise NotUnderstood(f"a change of {r.delta} replicas makes no sense")
    if r.port is not None and not 1 <= r.port <= 65535:
        raise NotUnderstood(f"port must be between 1 and 65535, got {r.port}")
    if r.cpu_percent is not None and not 1 <= r.cpu_percent <= 1000:
        raise NotUnderstood(f"CPU target must be between 1% and 1000%, got {r.cpu_percent}%")
    if r.min_replicas is not None and r.max_replicas is not None and r.min_replicas > r.max_replicas:
        raise NotUnderstood(f"minimum replicas ({r.min_replicas}) is above the maximum ({r.max_replicas})")
    if r.min_replicas == 0:
        raise NotUnderstood("an autoscaler's minimum must be at least 1")
    if r.revision is not None and r.revision < 1:
        raise NotUnderstood(f"revisions start at 1, got {r.revision}")
    if r.tail is not None and r.tail < 0:
        raise NotUnderstood(f"cannot show the last {r.tail} lines")
    _validate_access(r)
    language = r.language if r.language in ("ko", "en") else "en"
    return r if language == r.language else replace(r, language=language)


def _validate_access(r: Request) -> None:
    """The access fields go with the access intents only, and name what RBAC knows."""
    if r.intent not in ACCESS_INTENTS:
        for name in _ACCESS_FIELDS:
            if getattr(r, name) is not None:
                raise NotUnderstood(f"{name} is for can_i and grant, not {r.intent.value}")
        return
    if r.subject is not None and not _SUBJECT.match(r.subject):
        raise NotUnderstood(f"{r.subject!r} is not a user or service account name")
    if r.subject_kind is not None and r.subject_kind not in SUBJECT_KINDS:
        raise NotUnderstood(f"subject_kind must be one of {', '.join(SUBJECT_KINDS)}, got {r.subject_kind!r}")
    if r.subject_kind == "ServiceAccount" and r.subject is not None and not DNS_SUBDOMAIN.match(r.subject):
        raise NotUnderstood(f"{r.subject!r} is not a valid service account name")
    if r.verb is not None and (r.intent is not Intent.CAN_I or r.verb not in ACCESS_VERBS):
        raise NotUnderstood(f"verb must be one of {', '.join(ACCESS_VERBS)} for can_i, got {r.verb!r}")
    if r.resource is not None and (r.intent is not Intent.CAN_I or not DNS_LABEL.match(r.resource)):
        raise NotUnderstood(f"{r.resource!r} is not a resource to ask can_i about")
    if r.role is not None and (r.intent is not Intent.GRANT or r.role not in ACCESS_ROLES):
        raise NotUnderstood(f"role must be one of {', '.join(ACCESS_ROLES)} for grant, got {r.role!r}")


_SUBJECT = re.compile(r"^[a-z0-9][a-z0-9:._@-]*$")


def validate_storage(value: str) -> str:
    """A storage size must be a positive quantity, as the API server reads it (``1Gi``, ``2G``, ``1.5Gi``)."""
    try:
        size = parse_quantity(value)
    except ValueError:
        raise NotUnderstood(f"{value!r} is not a storage size; say it like 1Gi, 500Mi or 2G") from None
    if size <= 0 or value.strip() != value or value.startswith("+"):
        raise NotUnderstood(f"a storage size must be a positive quantity like 1Gi, got {value!r}")
    return value


class Verb(enum.Enum):
    """Abstract API operations; the CLI maps each onto the client (``scale`` = the scale subresource)."""

    CREATE = "create"
    GET = "get"
    LIST = "list"
    PATCH = "patch"
    DELETE = "delete"
    SCALE = "scale"
    LOGS = "logs"
    DRAIN = "drain"
    """No API verb either: like ``kubectl drain``, evict every pod on the node ``name`` (an Eviction
    each, which a PodDisruptionBudget may refuse for a while), except DaemonSet and mirror pods,
    and wait until they are gone. ``params``: ``ignoreDaemonSets``, ``deleteEmptyDirData``."""
    ROLLBACK = "rollback"
    """No API verb exists: like ``kubectl rollout undo``, copy the template of the ReplicaSet at
    ``params["revision"]`` (or the one before the current) back into the Deployment."""


@dataclass(frozen=True)
class Operation:
    verb: Verb
    api_version: str
    """``v1``, ``apps/v1``, ``autoscaling/v2``."""
    resource: str
    """Plural resource name: ``deployments``, ``pods``…"""
    namespace: str | None = None
    """``None`` only for cluster-scoped resources (namespaces)."""
    name: str | None = None
    """``None`` with LIST, and with SCALE/DELETE meaning every object of the resource."""
    body: JSONDict | None = None
    patch: JSONDict | None = None
    patch_type: str | None = None
    """``strategic`` or ``merge`` for PATCH."""
    params: JSONDict = field(default_factory=dict)
    """Verb-specific: ``replicas``/``current_replicas`` (SCALE), ``labelSelector`` (LIST),
    ``follow``/``tailLines`` (LOGS), ``revision`` (ROLLBACK)."""
    ignore_not_found: bool = False
    """A 404 is success (deleting the Service of an app that never had one)."""

    def to_dict(self) -> JSONDict:
        out: JSONDict = {"verb": self.verb.value, "apiVersion": self.api_version, "resource": self.resource}
        for key, value in (
            ("namespace", self.namespace),
            ("name", self.name),
            ("body", self.body),
            ("patch", self.patch),
            ("patchType", self.patch_type),
        ):
            if value is not None:
                out[key] = value
        if self.params:
            out["params"] = self.params
        if self.ignore_not_found:
            out["ignoreNotFound"] = True
        return out


@dataclass(frozen=True)
class Step:
    description: str
    """In the request's language."""
    kubectl: str
    """The command a human would type for the same effect."""
    operation: Operation


@dataclass(frozen=True)
class Plan:
    request: Request
    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()
    """Things the user should know before saying yes (an image that isn't here)."""
    notes: tuple[str, ...] = ()
    """Defaults and decisions the planner made ("namespace shop does not exist: creating it")."""

    @property
    def context(self) -> str | None:
        return self.request.context

    @property
    def destructive(self) -> bool:
        """Deletes or evicts something, or scales *every* deployment to zero: ask before doing it."""
        return any(
            s.operation.verb in (Verb.DELETE, Verb.DRAIN)
            or (s.operation.verb is Verb.SCALE and s.operation.name is None and s.operation.params.get("replicas") == 0)
            for s in self.steps
        )

    @property
    def kubectl(self) -> list[str]:
        return [s.kubectl for s in self.steps]

    def to_dict(self) -> JSONDict:
        return {
            "request": self.request.to_dict(),
            "context": self.context,
            "destructive": self.destructive,
            "steps": [
                {"description": s.description, "kubectl": s.kubectl, "operation": s.operation.to_dict()}
                for s in self.steps
            ],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        # ensure_ascii=False: Korean descriptions stay readable in `-o json`.
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)
