"""Objects a component cannot act on: telling them apart from failures worth retrying soon.

The API server decodes every write against its kind's schema, but a database left by an older
kuberya (or a bug) can still hold a Deployment whose ``spec.replicas`` is ``"three"``. A
component reading such an object must not crash, nor retry it in a tight loop: it says once what
is wrong (a Warning event, a warning in the log) and backs off, while every other object goes on
being handled.

Two halves:

* :func:`check` walks an object against a :data:`Shape` — the fields a component reads and the
  types it needs them to have — and raises :class:`MalformedObjectError` naming the first field
  that is wrong (``spec.template.spec.containers[0].name: expected a string, got 1``). An absent
  or null field is fine: components default those, as upstream's typed structs do.
* :func:`is_malformed` tells an error the object caused (the checker's, or a ``TypeError`` /
  ``ValueError`` / ``KeyError``... raised while reading it) from one the API gave (an
  :class:`ApiError`, transient or not), which the work queue retries on its own.

The shapes here are what kuberya's controllers, node agent and proxy read, not the kinds' full
schemas (those belong to the API server): they only need to be enough that what passes them can
be read without a type error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kuberya.client.errors import ApiError
from kuberya.meta.types import Obj

Shape = Callable[[Any, str], None]
"""Checks a value found at a field path; raises :class:`MalformedObjectError` if it is wrong."""

REASON = "FailedSync"
"""The reason of the Warning event about an object that cannot be acted on (the kubelet's, for a
pod it cannot sync): the message says which field and what to do."""


class MalformedObjectError(ValueError):
    """A field of a stored object has a type or value no component can act on."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


# Read errors an object causes when a field is not what its reader expects.
READ_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, ArithmeticError)


def is_malformed(exc: BaseException) -> bool:
    """Whether ``exc`` came from the object read rather than from the API (which is worth retrying)."""
    return isinstance(exc, READ_ERRORS) and not isinstance(exc, ApiError)


def describe(obj: Mapping[str, Any] | None, exc: BaseException) -> str:
    """What is wrong with ``obj`` and what to do: the message of the Warning event and the log line."""
    meta = (obj or {}).get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    kind = str((obj or {}).get("kind") or "object")
    name, namespace = meta.get("name"), meta.get("namespace")
    where = f" -n {namespace}" if namespace else ""
    if isinstance(exc, MalformedObjectError):
        what = f"invalid field {exc}"
    else:
        what = f"cannot be read ({type(exc).__name__}: {exc})"
    return (
        f"{what}; {kind} {name} is left as it is and retried with backoff. "
        f"Fix the field (kubectl edit {kind.lower()} {name}{where}) or delete and re-create the object."
    )


def check(obj: Any, shape: Shape) -> None:
    """Raise :class:`MalformedObjectError` at the first field of ``obj`` that ``shape`` refuses."""
    shape(obj, "")


def conforms(obj: Any, shape: Shape) -> bool:
    """Whether ``obj`` passes ``shape`` (for objects a component reads beside the one it syncs)."""
    try:
        shape(obj, "")
    except MalformedObjectError:
        return False
    return True


def partition(objs: Iterable[Obj], shape: Shape) -> tuple[list[Obj], list[tuple[Obj, MalformedObjectError]]]:
    """Split ``objs`` into those ``shape`` accepts and those it refuses (with why).

    For a component that reads a whole cache at once (the proxy) and must skip the bad ones.
    """
    good: list[Obj] = []
    bad: list[tuple[Obj, MalformedObjectError]] = []
    for obj in objs:
        try:
            shape(obj, "")
        except MalformedObjectError as exc:
            bad.append((obj, exc))
        else:
            good.append(obj)
    return good, bad


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _fail(path: str, expected: str, value: Any) -> MalformedObjectError:
    return MalformedObjectError(path, f"expected {expected}, got {_show(value)} ({_type_name(value)})")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def string(value: Any, path: str) -> None:
    if value is not None and not isinstance(value, str):
        raise _fail(path, "a string", value)


def integer(value: Any, path: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise _fail(path, "an integer", value)


def number(value: Any, path: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise _fail(path, "a number", value)


def boolean(value: Any, path: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise _fail(path, "a boolean", value)


_PERCENT = re.compile(r"^[0-9]+%$")


def int_or_string(value: Any, path: str) -> None:
    """An ``IntOrString``; a string must be a percentage or a name (a port's), never empty."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return
    if not isinstance(value, str) or not value:
        raise _fail(path, "an integer or a string", value)


def percent_or_int(value: Any, path: str) -> None:
    """An ``IntOrString`` that is a count or a percentage (``maxSurge``, ``maxUnavailable``)."""
    if isinstance(value, str) and not _PERCENT.match(value):
        raise _fail(path, "an integer or a percentage", value)
    int_or_string(value, path)


_QUANTITY = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?")


def quantity(value: Any, path: str) -> None:
    """A ``resource.Quantity``: a number, or a string such as ``250m`` or ``1.5Gi``."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return
    if not isinstance(value, str) or _QUANTITY.fullmatch(value.strip()) is None:
        raise _fail(path, "a quantity such as 250m or 1Gi", value)


def fields(**known: Shape) -> Shape:
    """An object whose named fields have these shapes; fields not named are not looked at."""

    def check_fields(value: Any, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping):
            raise _fail(path or "the object", "an object", value)
        for name, shape in known.items():
            shape(value.get(name), _join(path, name))

    return check_fields


def map_of(item: Shape) -> Shape:
    """An object of arbitrary keys whose values have shape ``item`` (labels, resource lists)."""

    def check_map(value: Any, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping):
            raise _fail(path, "an object", value)
        for key, entry in value.items():
            if not isinstance(key, str):
                raise _fail(path, "string keys", key)
            item(entry, _join(path, key))

    return check_map


def list_of(item: Shape) -> Shape:
    """A list whose entries have shape ``item``."""

    def check_list(value: Any, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            raise _fail(path, "a list", value)
        for index, entry in enumerate(value):
            item(entry, f"{path}[{index}]")

    return check_list


def required(shape: Shape) -> Shape:
    """``shape``, and the field must be there (a container's name: nothing can default it)."""

    def check_required(value: Any, path: str) -> None:
        if value is None or value == "":
            raise MalformedObjectError(path, "is required")
        shape(value, path)

    return check_required


# -- the shapes components read ------------------------------------------------------------------

METADATA = fields(
    name=string,
    namespace=string,
    uid=string,
    labels=map_of(string),
    annotations=map_of(string),
    generation=integer,
    deletionTimestamp=string,
    ownerReferences=list_of(fields(apiVersion=string, kind=string, name=string, uid=string, controller=boolean)),
    finalizers=list_of(string),
)

LABEL_SELECTOR = fields(
    matchLabels=map_of(string),
    matchExpressions=list_of(fields(key=required(string), operator=required(string), values=list_of(string))),
)

RESOURCES = fields(limits=map_of(quantity), requests=map_of(quantity))

_PROBE = fields(
    httpGet=fields(path=string, port=int_or_string, host=string, scheme=string),
    tcpSocket=fields(port=int_or_string, host=string),
    exec=fields(command=list_of(string)),
    initialDelaySeconds=integer,
    periodSeconds=integer,
    timeoutSeconds=integer,
    successThreshold=integer,
    failureThreshold=integer,
)

_NAMED = fields(name=string)
_KEY_REF = fields(name=string, key=string)

CONTAINER = fields(
    name=required(string),
    image=string,
    imagePullPolicy=string,
    command=list_of(string),
    args=list_of(string),
    workingDir=string,
    env=list_of(
        fields(
            name=required(string),
            value=string,
            valueFrom=fields(configMapKeyRef=_KEY_REF, secretKeyRef=_KEY_REF),
        )
    ),
    envFrom=list_of(fields(configMapRef=_NAMED, secretRef=_NAMED, prefix=string)),
    ports=list_of(fields(name=string, containerPort=integer, protocol=string, hostPort=integer)),
    resources=RESOURCES,
    livenessProbe=_PROBE,
    readinessProbe=_PROBE,
    startupProbe=_PROBE,
    volumeMounts=list_of(fields(name=required(string), mountPath=required(string), readOnly=boolean)),
)

POD_SPEC = fields(
    containers=list_of(CONTAINER),
    initContainers=list_of(CONTAINER),
    nodeName=string,
    nodeSelector=map_of(string),
    restartPolicy=string,
    terminationGracePeriodSeconds=integer,
    schedulerName=string,
    hostNetwork=boolean,
    volumes=list_of(
        fields(
            name=required(string),
            configMap=_NAMED,
            secret=fields(secretName=string),
            projected=fields(sources=list_of(fields(configMap=_NAMED, secret=_NAMED))),
        )
    ),
    tolerations=list_of(fields(key=string, operator=string, value=string, effect=string)),
)

POD_TEMPLATE = fields(metadata=fields(labels=map_of(string), annotations=map_of(string)), spec=POD_SPEC)

POD = fields(metadata=METADATA, spec=POD_SPEC, status=fields(phase=string, podIP=string))

REPLICA_SET = fields(
    metadata=METADATA,
    spec=fields(replicas=integer, minReadySeconds=integer, selector=LABEL_SELECTOR, template=POD_TEMPLATE),
)

DEPLOYMENT = fields(
    metadata=METADATA,
    spec=fields(
        replicas=integer,
        paused=boolean,
        minReadySeconds=integer,
        revisionHistoryLimit=integer,
        progressDeadlineSeconds=integer,
        selector=LABEL_SELECTOR,
        template=POD_TEMPLATE,
        strategy=fields(
            type=string,
            rollingUpdate=fields(maxSurge=percent_or_int, maxUnavailable=percent_or_int),
        ),
    ),
)

SERVICE_PORT = fields(
    name=string,
    protocol=string,
    port=required(integer),
    targetPort=int_or_string,
    nodePort=integer,
)

SERVICE = fields(
    metadata=METADATA,
    spec=fields(
        type=string,
        selector=map_of(string),
        ports=list_of(SERVICE_PORT),
        clusterIP=string,
        clusterIPs=list_of(string),
        externalName=string,
        publishNotReadyAddresses=boolean,
        sessionAffinity=string,
        sessionAffinityConfig=fields(clientIP=fields(timeoutSeconds=integer)),
    ),
    status=fields(loadBalancer=fields(ingress=list_of(fields(ip=string, hostname=string)))),
)

ENDPOINT_SLICE = fields(
    metadata=METADATA,
    addressType=string,
    endpoints=list_of(
        fields(
            addresses=list_of(string),
            conditions=fields(ready=boolean, serving=boolean, terminating=boolean),
            hostname=string,
            nodeName=string,
            targetRef=fields(kind=string, name=string, namespace=string, uid=string),
        )
    ),
    ports=list_of(fields(name=string, port=integer, protocol=string)),
)

_METRIC_TARGET = fields(type=string, averageUtilization=integer, averageValue=quantity, value=quantity)

HORIZONTAL_POD_AUTOSCALER = fields(
    metadata=METADATA,
    spec=fields(
        minReplicas=integer,
        maxReplicas=required(integer),
        scaleTargetRef=fields(apiVersion=string, kind=required(string), name=required(string)),
        targetCPUUtilizationPercentage=integer,
        metrics=list_of(
            fields(
                type=string,
                resource=fields(name=string, target=_METRIC_TARGET),
                containerResource=fields(name=string, container=string, target=_METRIC_TARGET),
            )
        ),
    ),
)

NAMESPACE = fields(metadata=METADATA, spec=fields(finalizers=list_of(string)))

NODE = fields(metadata=METADATA, spec=fields(unschedulable=boolean, taints=list_of(fields(key=string, effect=string))))
