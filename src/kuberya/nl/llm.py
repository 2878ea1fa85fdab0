"""The optional LLM fallback: an OpenAI-compatible chat-completions endpoint reads what the rules can't.

Off unless the CLI passes :class:`LLMSettings` (it reads ``KUBERYA_LLM_BASE_URL``,
``KUBERYA_LLM_API_KEY`` and ``KUBERYA_LLM_MODEL``; this package never reads the environment).
The model is asked for one JSON object in the shape of :class:`~kuberya.nl.plan.Request` and
nothing else. Its answer is *untrusted input*: it goes through :meth:`Request.from_dict` and
:func:`~kuberya.nl.plan.validate_request` exactly like the parser's output — unknown intents,
unknown fields, malformed names and out-of-range numbers are refused — and then through the same
planning and confirmation. The model never gets to name an API call, only a request.

This is the package's only I/O. It is a single blocking HTTP POST (``urllib``, no new
dependency); the CLI calls it at the edge, e.g. through ``asyncio.to_thread``. The transport is
one function, so tests replace it without sockets.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kuberya.nl.errors import LLMError, NotUnderstood
from kuberya.nl.plan import Intent, Request

JSONBody = dict[str, object]
Transport = Callable[[str, bytes, Mapping[str, str], float], bytes]
"""``(url, body, headers, timeout) -> response body``; raises :class:`LLMError` on failure."""


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    """The API root, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:11434/v1``;
    ``/chat/completions`` is appended."""
    api_key: str | None
    """Sent as a bearer token when set (local servers often need none)."""
    model: str
    timeout: float = 20.0
    """Seconds for the whole request."""
    json_mode: bool = True
    """Ask for ``response_format: json_object`` (servers that reject it: turn off)."""


_FIELDS_DOC = """\
Fields (omit what the user did not say; never invent values):
  intent: one of INTENTS
  app: Kubernetes name of the app (lowercase, digits, '-')
  replicas: target replica count (run_app, scale)
  delta: signed change of replicas (scale_by), e.g. 2 or -1
  image: image reference (set_image, or run_app with a given image)
  port: TCP port (expose, or run_app)
  namespace, context: Kubernetes namespace / kubeconfig context, only if named
  kind: for list: "pods", "deployments", "services", "all", "persistentvolumeclaims", "persistentvolumes",
    "volumes" (claims and PVs) or "storageclasses"; for delete of a pod: "pods"; for delete/status of a
    claim: "persistentvolumeclaims" (of a PV: "persistentvolumes"), the claim's name in app
  storage: a size as a Kubernetes quantity ("1Gi", "500Mi", "2G"): of the claim for create_claim and
    resize_claim, of each replica's own volume for run_statefulset
  cpu_percent, min_replicas, max_replicas: for autoscale
  revision: for rollback to a given revision
  follow (bool), tail (int): for logs
  all (bool): stop/delete of everything in the namespace
  schedule: five-field cron expression, only for run_cronjob ("every day at 3am" -> "0 3 * * *")
  node: node name, only for drain/cordon/uncordon, only if named
  command: list of strings, the command a run_job/run_cronjob container runs, only if given
run_job is a one-off Job, run_cronjob a CronJob on a schedule, run_statefulset replicas started in
order (a StatefulSet) — also any app run with a size of storage; create_claim/resize_claim make or grow
a PersistentVolumeClaim named app; drain/cordon/uncordon are about a node, never an app.
"""

_EXAMPLES = [
    ("쿠버야 payment 앱을 3개 실행해줘", {"intent": "run_app", "app": "payment", "replicas": 3}),
    ("gke-prod에서 payment 2개 더 늘려줘", {"intent": "scale_by", "app": "payment", "delta": 2, "context": "gke-prod"}),
    ("show me the last 20 log lines of orders", {"intent": "logs", "app": "orders", "tail": 20}),
    ("매일 새벽 3시에 backup 돌려줘", {"intent": "run_cronjob", "app": "backup", "schedule": "0 3 * * *"}),
    ("노드 비워줘", {"intent": "drain"}),
    ("give postgres a 5Gi volume", {"intent": "run_statefulset", "app": "postgres", "storage": "5Gi"}),
    ("cache 볼륨 10Gi로 늘려줘", {"intent": "resize_claim", "app": "cache", "storage": "10Gi"}),
    ("what's the weather?", {"intent": None}),
]


def system_prompt() -> str:
    intents = ", ".join(i.value for i in Intent)
    examples = "\n".join(f"{text!r} -> {json.dumps(answer, ensure_ascii=False)}" for text, answer in _EXAMPLES)
    return (
        "You turn a Korean or English request to operate a Kubernetes cluster into one JSON object.\n"
        "Answer with the JSON object only, no prose, no code fence. If the text is not such a request, "
        'answer {"intent": null}.\n'
        f"{_FIELDS_DOC.replace('INTENTS', intents)}"
        f"Examples:\n{examples}\n"
    )


def chat_body(text: str, settings: LLMSettings) -> JSONBody:
    body: JSONBody = {
        "model": settings.model,
        "temperature": 0,
        "messages": [{"role": "system", "content": system_prompt()}, {"role": "user", "content": text}],
    }
    if settings.json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def urllib_transport(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> bytes:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as e:
        detail = e.read()[:300].decode("utf-8", "replace")
        raise LLMError(f"the LLM endpoint answered {e.code} {e.reason}: {detail}") from e
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise LLMError(f"cannot reach the LLM endpoint {url}: {e}") from e


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
_TOLERATED = ("reason", "explanation", "language")
"""Keys models like to add; dropped. Anything else unknown is refused."""


def request_from_answer(content: str, *, language: str) -> Request:
    """Validate the model's message content into a :class:`Request` (or refuse it)."""
    try:
        data = json.loads(_FENCE.sub("", content.strip()))
    except json.JSONDecodeError as e:
        raise LLMError(f"the LLM did not answer JSON: {content[:200]!r}") from e
    if isinstance(data, dict):
        if data.get("intent") is None:
            raise NotUnderstood("the LLM fallback did not read that as a cluster request either")
        data = {k: v for k, v in data.items() if k not in _TOLERATED}
        data["language"] = language
    try:
        return Request.from_dict(data)
    except NotUnderstood as e:
        raise LLMError(f"the LLM's answer was refused: {e.message}") from e


def llm_parse(text: str, settings: LLMSettings, *, transport: Transport = urllib_transport) -> Request:
    """Ask the endpoint to read ``text``; return a validated :class:`Request`.

    Raises :class:`LLMError` when the endpoint fails or answers something invalid, and
    :class:`NotUnderstood` when the model, too, says the text is not a request.
    """
    language = "ko" if re.search("[가-힣]", text) else "en"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    url = settings.base_url.rstrip("/") + "/chat/completions"
    raw = transport(url, json.dumps(chat_body(text, settings)).encode(), headers, settings.timeout)
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise LLMError(f"unexpected answer from the LLM endpoint: {raw[:200]!r}") from e
    if not isinstance(content, str):
        raise LLMError("the LLM answered no message content")
    return request_from_answer(content, language=language)
