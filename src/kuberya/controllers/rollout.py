"""The arithmetic of Deployment rollouts, free of I/O (upstream's ``deployment/util``).

Everything here is a pure function of Deployment and ReplicaSet objects (plain dicts):

* *identity*: the ``pod-template-hash`` (FNV-32a of the template plus ``collisionCount``, spelled
  with ``rand.SafeEncodeString``'s alphabet), template equality ignoring that label, which
  ReplicaSet is the new one, revisions and the annotations copied to ReplicaSets;
* *fenceposts*: ``maxSurge`` rounds up, ``maxUnavailable`` rounds down, and both zero means one
  may be unavailable (``ResolveFenceposts``);
* *scaling*: how far the new ReplicaSet may grow, how a scaled Deployment's change is shared among
  its ReplicaSets in proportion to their size (``GetProportion``);

The status side (counts and conditions) is :mod:`kuberya.controllers.deployment_status`.

The upstream function each one follows is named in its docstring.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from kuberya.controllers.ownership import meta, owner_reference
from kuberya.controllers.ownership import replicas as replicas  # re-exported: ro.replicas(d)
from kuberya.controllers.ownership import spec as spec
from kuberya.controllers.ownership import status as status
from kuberya.controllers.wallclock import parse_time
from kuberya.meta.types import Obj

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
NOT_COPIED = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})
"""Deployment annotations that are not copied to its ReplicaSets (upstream's ``skipCopyAnnotation``)."""
MAX_REVISION_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""``k8s.io/apimachinery/pkg/util/rand`` alphanumerics: no vowels, no confusable characters."""

# Condition types and reasons (k8s.io/kubernetes/pkg/controller/deployment/util).
AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
FAILED_RS_CREATE = "ReplicaSetCreateError"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


# -- small accessors ------------------------------------------------------------------------


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict(meta(obj).get("annotations") or {})


def _int_annotation(obj: Obj, key: str) -> int | None:
    try:
        return int(annotations_of(obj)[key])
    except (KeyError, ValueError):
        return None


def revision(rs: Obj | None) -> int:
    """The ``deployment.kubernetes.io/revision`` of ``rs``; 0 when absent or malformed."""
    return (_int_annotation(rs, REVISION) or 0) if rs is not None else 0


def is_rolling_update(d: Obj) -> bool:
    return str((spec(d).get("strategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"


def has_progress_deadline(d: Obj) -> bool:
    deadline = spec(d).get("progressDeadlineSeconds")
    return deadline is not None and int(deadline) != MAX_INT32


# -- the pod-template-hash and template identity -----------------------------------------------


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: each character mapped into :data:`SAFE_ALPHABET`."""
    return "".join(SAFE_ALPHABET[ord(ch) % len(SAFE_ALPHABET)] for ch in text)


def compute_hash(template: Obj, collision_count: int | None) -> str:
    """``controller.ComputeHash``: FNV-32a of the template, then of ``collisionCount`` (LE uint32).

    The template is hashed as canonical JSON rather than Go's ``spew`` dump, so the value differs
    from upstream's but is just as stable: equal templates always hash alike.
    """
    data = json.dumps(_normalized(template), sort_keys=True, separators=(",", ":")).encode()
    hashed = fnv32a(data)
    if collision_count is not None:
        value = hashed
        for byte in int(collision_count).to_bytes(4, "little", signed=False):
            value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
        hashed = value
    return safe_encode(str(hashed))


def _normalized(value: Any) -> Any:
    """Drop nulls, empty strings and empty maps and lists: Go's semantic equality cannot tell them apart."""
    if isinstance(value, dict):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", {}, [])}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def template_without_hash(template: Obj) -> Obj:
    """A copy of ``template`` without the ``pod-template-hash`` label."""
    copied = copy.deepcopy(template)
    labels = (copied.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return copied


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """``EqualIgnoreHash``: templates equal once the hash label is removed from both."""
    return bool(_normalized(template_without_hash(a)) == _normalized(template_without_hash(b)))


def template_of(obj: Obj) -> Obj:
    found = spec(obj).get("template")
    return found if isinstance(found, dict) else {}


# -- orderings ---------------------------------------------------------------------------------


def _created(obj: Obj) -> float:
    when = parse_time(meta(obj).get("creationTimestamp"))
    return when.timestamp() if when is not None else 0.0


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    """Oldest first, then by name (``ReplicaSetsByCreationTimestamp``)."""
    return sorted(rss, key=lambda rs: (_created(rs), str(meta(rs).get("name"))))


def by_size_older(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; among equals the oldest first (``ReplicaSetsBySizeOlder``)."""
    return sorted(rss, key=lambda rs: (-replicas(rs), _created(rs), str(meta(rs).get("name"))))


def by_size_newer(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; among equals the newest first (``ReplicaSetsBySizeNewer``)."""
    return sorted(by_creation(rss)[::-1], key=lambda rs: -replicas(rs))


def by_revision(rss: Iterable[Obj]) -> list[Obj]:
    """Lowest revision first, then oldest (``ReplicaSetsByRevision``)."""
    return sorted(by_creation(rss), key=revision)


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    """ReplicaSets that want pods (``FilterActiveReplicaSets``)."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def total_replicas(rss: Iterable[Obj | None]) -> int:
    return sum(replicas(rs) for rs in rss if rs is not None)


def _status_sum(rss: Iterable[Obj | None], field: str) -> int:
    return sum(int(status(rs).get(field) or 0) for rs in rss if rs is not None)


def find_new_replica_set(d: Obj, rss: Sequence[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (``FindNewReplicaSet``)."""
    for rs in by_creation(rss):
        if equal_ignore_hash(template_of(rs), template_of(d)):
            return rs
    return None


# -- fenceposts ---------------------------------------------------------------------------------


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int as is, ``"25%"`` of ``total`` rounded."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            raise ValueError(
                f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}"
            ) from None
    percent = int(text[:-1])
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """``ResolveFenceposts``: surge rounds up, unavailable down; both zero means one unavailable."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(d: Obj) -> dict[str, Any]:
    return ((spec(d).get("strategy") or {}).get("rollingUpdate")) or {}


def max_surge(d: Obj) -> int:
    if not is_rolling_update(d):
        return 0
    rolling = _rolling(d)
    return resolve_fenceposts(rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"), replicas(d))[0]


def max_unavailable(d: Obj) -> int:
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    rolling = _rolling(d)
    unavailable = resolve_fenceposts(rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"), replicas(d))[
        1
    ]
    return min(unavailable, replicas(d))


# -- annotations ------------------------------------------------------------------------------


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    """Set desired/max-replicas on ``rs``; tell whether anything changed."""
    notes = meta(rs).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if notes.get(key) != value:
            notes[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    notes = annotations_of(rs)
    return notes.get(DESIRED_REPLICAS) != str(desired) or notes.get(MAX_REPLICAS) != str(max_replicas)


def copy_annotations(d: Obj, rs: Obj) -> bool:
    """Copy the Deployment's annotations (but :data:`NOT_COPIED`) onto ``rs``; tell whether any changed."""
    notes = meta(rs).setdefault("annotations", {})
    changed = False
    for key, value in annotations_of(d).items():
        if key in NOT_COPIED or notes.get(key) == value:
            continue
        notes[key] = value
        changed = True
    return changed


def set_new_replica_set_annotations(d: Obj, rs: Obj, new_revision: int, *, exists: bool) -> bool:
    """``SetNewReplicaSetAnnotations``: copied annotations, the revision, its history on rollback."""
    changed = copy_annotations(d, rs)
    notes = meta(rs).setdefault("annotations", {})
    old_text = notes.get(REVISION)
    try:
        old = int(old_text) if old_text else 0
    except ValueError:
        return changed
    if old < new_revision:
        notes[REVISION] = str(new_revision)
        changed = True
        if old_text:
            # Reused by a rollback: remember the revisions it had, newest last, within 2000 chars.
            history = [r for r in (notes.get(REVISION_HISTORY) or "").split(",") if r]
            history.append(old_text)
            while history and len(",".join(history)) > MAX_REVISION_HISTORY_CHARS:
                history.pop(0)
            notes[REVISION_HISTORY] = ",".join(history)
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# -- scaling ----------------------------------------------------------------------------------


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """``NewRSNewReplicas``: how big the new ReplicaSet may be now."""
    if not is_rolling_update(d):
        return replicas(d)
    current = total_replicas(all_rss)
    max_total = replicas(d) + max_surge(d)
    if current >= max_total:
        return replicas(new_rs)
    scale_up = min(max_total - current, replicas(d) - replicas(new_rs))
    return replicas(new_rs) + scale_up


def find_active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """``FindActiveOrLatest``: the only active ReplicaSet, or the latest when none is active."""
    if new_rs is None and not old_rss:
        return None
    newest_first = by_creation(old_rss)[::-1]
    alive = active([*newest_first, new_rs])
    if not alive:
        return new_rs if new_rs is not None else newest_first[0]
    return alive[0] if len(alive) == 1 else None


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """``IsSaturated``: the ReplicaSet has all the Deployment's replicas, all available."""
    if rs is None:
        return False
    desired = _int_annotation(rs, DESIRED_REPLICAS)
    return (
        desired == replicas(d)
        and int(status(rs).get("availableReplicas") or 0) == replicas(d)
        and replicas(rs) == replicas(d)
    )


def _round_half_away(value: float) -> int:
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def replica_set_fraction(rs: Obj, d: Obj) -> int:
    """``getReplicaSetFraction``: ``rs``'s share of a resize, from its max-replicas annotation."""
    if replicas(d) == 0:
        return -replicas(rs)
    deployment_replicas = replicas(d) + max_surge(d)
    annotated = _int_annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = int(status(d).get("replicas") or 0)
    if annotated == 0:
        return 0
    return _round_half_away(replicas(rs) * deployment_replicas / annotated) - replicas(rs)


def proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """``GetProportion``: replicas to add to (or remove from) ``rs``, capped by what is left."""
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def new_replica_set(d: Obj, old_rss: Sequence[Obj], new_revision: int) -> Obj:
    """The ReplicaSet a rollout creates: ``<deploy>-<hash>``, the template verbatim plus the hash label.

    The hash label goes on the ReplicaSet, its selector and its template; its size is what
    :func:`new_rs_new_replicas` allows next to ``old_rss``; its annotations are the revision, the
    Deployment's own (but :data:`NOT_COPIED`) and desired/max-replicas.
    """
    template = copy.deepcopy(template_of(d))
    pod_hash = compute_hash(template, status(d).get("collisionCount"))
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
    selector = copy.deepcopy(spec(d).get("selector") or {})
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    rs: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta(d).get('name')}-{pod_hash}",
            "namespace": meta(d).get("namespace"),
            "labels": copy.deepcopy(template["metadata"]["labels"]),
            "ownerReferences": [owner_reference(d, api_version="apps/v1", kind="Deployment")],
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": spec(d).get("minReadySeconds") or 0,
            "selector": selector,
            "template": template,
        },
    }
    rs["spec"]["replicas"] = new_rs_new_replicas(d, [*old_rss, rs], rs)
    set_new_replica_set_annotations(d, rs, new_revision, exists=False)
    return rs
