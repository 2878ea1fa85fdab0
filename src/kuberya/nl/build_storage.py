"""Plans for storage: claims (create, grow, delete, show), the volumes list, and sized StatefulSets.

As in :mod:`~kuberya.nl.build`, each body is what the ``kubectl`` line beside it sends:

* a claim has no ``kubectl create`` generator: it is ``kubectl create -f -`` of the manifest,
  which the plan prints as YAML (a note), so that the user can keep it; ``accessModes:
  [ReadWriteOnce]`` and no ``storageClassName``, so that the API server's default-class admission
  gives it the cluster's default StorageClass (``local-path`` on kuberya);
* a resize is ``kubectl patch pvc NAME --type=merge -p …`` of ``spec.resources.requests.storage``:
  the API server refuses it, with upstream's message, when the class does not allow expansion or
  the size is smaller;
* "show volumes" is ``kubectl get pvc`` and ``kubectl get pv`` (PersistentVolumes are
  cluster-scoped: which claim each one is bound to, and its reclaim policy);
* a StatefulSet with a size gets a ``volumeClaimTemplates`` entry ``data`` — so replica ``N`` of
  ``NAME`` gets the claim ``data-NAME-N``, which it gets back when it is deleted and re-created —
  mounted where the image keeps its data (:data:`DATA_PATHS`), else at ``/data``.

Deleting a claim is destructive (it is confirmed): with the default class's reclaim policy
``Delete`` the volume's directory goes with it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable

import yaml

from kuberya.nl.build import _Builder, _container_name
from kuberya.nl.plan import Intent, JSONDict, Operation, Verb

CLAIM_TEMPLATE = "data"
"""The name of a StatefulSet's claim template: the claims are ``data-<statefulset>-<ordinal>``."""

DEFAULT_DATA_PATH = "/data"
DATA_PATHS = {
    "postgres": "/var/lib/postgresql/data",
    "postgresql": "/var/lib/postgresql/data",
    "mysql": "/var/lib/mysql",
    "mariadb": "/var/lib/mysql",
    "redis": "/data",
    "mongo": "/data/db",
    "mongodb": "/data/db",
}
"""Where the official images keep their data (their Dockerfiles' ``VOLUME``), by repository name."""

_PASSWORD_ENV = {
    "postgres": "POSTGRES_PASSWORD",
    "postgresql": "POSTGRES_PASSWORD",
    "mysql": "MYSQL_ROOT_PASSWORD",
    "mariadb": "MARIADB_ROOT_PASSWORD",
}
"""Official database images that exit at start without a password in the environment."""

_KINDS = {
    "persistentvolumeclaims": ("pvc", "클레임(PVC)", "persistentvolumeclaims"),
    "persistentvolumes": ("pv", "퍼시스턴트볼륨(PV)", "persistentvolumes"),
    "storageclasses": ("sc", "스토리지클래스", "storageclasses"),
}
_CLUSTER_SCOPED = {"persistentvolumes": "v1", "storageclasses": "storage.k8s.io/v1"}


def plan_storage(b: _Builder) -> None:
    """Plan a storage request: a claim intent, or LIST/STATUS/DELETE of a storage ``kind``."""
    _PLANNERS[b.request.intent](b)


def _cluster_kubectl(b: _Builder, *args: str) -> str:
    """A kubectl line without ``-n``: the resource is cluster-scoped."""
    return " ".join(["kubectl", *(["--context", b.request.context] if b.request.context else []), *args])


def _cluster_op(verb: Verb, resource: str, name: str | None = None) -> Operation:
    return Operation(verb, _CLUSTER_SCOPED[resource], resource, name=name)


def _claim_op(
    b: _Builder, verb: Verb, name: str | None = None, *, body: JSONDict | None = None, patch: JSONDict | None = None
) -> Operation:
    return b.op(verb, "v1", "persistentvolumeclaims", name, body=body, patch=patch,
                patch_type="merge" if patch is not None else None)  # fmt: skip


def manifest_note(b: _Builder, body: JSONDict) -> None:
    """The manifest ``kubectl create -f -`` reads, as YAML in a note: what the user can keep and apply."""
    # Through JSON first: the body shares its label dicts, which YAML would print as &anchors.
    text = yaml.safe_dump(json.loads(json.dumps(body)), sort_keys=False, allow_unicode=True).rstrip()
    b.notes.append(
        b.say(f"kubectl create -f - 에 넣을 매니페스트:\n{text}", f"the manifest for kubectl create -f -:\n{text}")
    )


def _size_note(b: _Builder, size: str) -> None:
    if size[-1] in "kMGTPE":
        binary = f"{size[:-1]}{'Ki' if size[-1] == 'k' else size[-1] + 'i'}"
        b.notes.append(b.say(f"{size}는 10진 단위예요 ({binary}는 2진 단위).",
                             f"{size} is a decimal size ({binary} would be the binary one)."))  # fmt: skip


def _plan_list(b: _Builder) -> None:
    kind = b.request.kind or "volumes"
    for resource in ("persistentvolumeclaims", "persistentvolumes") if kind == "volumes" else (kind,):
        short, ko, en = _KINDS[resource]
        if resource in _CLUSTER_SCOPED:
            b.add(b.say(f"{ko} 목록 (클러스터 전체)", f"list {en} (cluster-wide)"),
                  _cluster_kubectl(b, "get", short),
                  _cluster_op(Verb.LIST, resource))  # fmt: skip
        else:
            b.add(b.say(f"{ko} 목록", f"list {en}"), b.kubectl("get", short), _claim_op(b, Verb.LIST))


def _plan_status(b: _Builder) -> None:
    resource = b.request.kind if b.request.kind in _KINDS else "persistentvolumeclaims"
    short, ko, en = _KINDS[resource]
    if resource in _CLUSTER_SCOPED:
        b.add(b.say(f"{ko} {b.app} 조회", f"get {en} {b.app}"),
              _cluster_kubectl(b, "get", short, b.app),
              _cluster_op(Verb.GET, resource, b.app))  # fmt: skip
        return
    b.add(b.say(f"클레임 {b.app} 조회", f"get claim {b.app}"), b.kubectl("get", short, b.app),
          _claim_op(b, Verb.GET, b.app))  # fmt: skip


def _plan_delete(b: _Builder) -> None:
    if b.request.kind == "persistentvolumes":
        b.add(b.say(f"퍼시스턴트볼륨 {b.app} 삭제", f"delete persistentvolume {b.app}"),
              _cluster_kubectl(b, "delete", "pv", b.app),
              _cluster_op(Verb.DELETE, "persistentvolumes", b.app))  # fmt: skip
        b.warnings.append(b.say("클레임에 묶인 PV는 그 클레임이 지워질 때까지 남아 있어요 (pv-protection).",
                                "A PV bound to a claim stays until the claim is gone (pv-protection)."))  # fmt: skip
        return
    b.add(
        b.say(f"클레임 {b.app} 삭제", f"delete claim {b.app}"),
        b.kubectl("delete", "pvc", b.app),
        _claim_op(b, Verb.DELETE, b.app),
    )
    b.warnings.append(b.say(
        "회수 정책이 Delete면 (기본 local-path) 볼륨 디렉터리와 데이터도 지워져요. "
        "쓰는 파드가 있으면 그 파드가 끝날 때까지 남아요.",
        "With reclaim policy Delete (the default local-path class) the volume's directory and data go too; "
        "a claim a pod uses stays until that pod is gone."))  # fmt: skip


def claim_body(name: str, namespace: str, size: str) -> JSONDict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def _plan_create_claim(b: _Builder) -> None:
    assert b.request.storage is not None, "validate_request guarantees a size"
    b.ensure_namespace()
    size = b.request.storage
    body = claim_body(b.app, b.ns, size)
    b.add(
        b.say(f"클레임 {b.app} 생성 ({size}, ReadWriteOnce, 기본 스토리지클래스)",
              f"create claim {b.app} ({size}, ReadWriteOnce, the default StorageClass)"),
        b.kubectl("create", "-f", "-"),
        _claim_op(b, Verb.CREATE, b.app, body=body),
    )  # fmt: skip
    _size_note(b, size)
    b.notes.append(b.say("기본 클래스 local-path는 WaitForFirstConsumer: 처음 쓰는 파드가 스케줄될 때 "
                         "볼륨이 만들어져요 (그때까지 Pending).",
                         "The default class local-path is WaitForFirstConsumer: the volume is made when the first "
                         "pod using the claim is scheduled (Pending until then)."))  # fmt: skip
    manifest_note(b, body)


def _plan_resize_claim(b: _Builder) -> None:
    assert b.request.storage is not None, "validate_request guarantees a size"
    size = b.request.storage
    patch: JSONDict = {"spec": {"resources": {"requests": {"storage": size}}}}
    b.add(
        b.say(f"클레임 {b.app} 크기를 {size}로 확장", f"grow claim {b.app} to {size}"),
        b.kubectl("patch", "pvc", b.app, "--type=merge", "-p", shlex.quote(json.dumps(patch, separators=(",", ":")))),
        _claim_op(b, Verb.PATCH, b.app, patch=patch),
    )
    _size_note(b, size)
    b.notes.append(b.say("클래스가 allowVolumeExpansion: true일 때만 늘릴 수 있고, 줄일 수는 없어요.",
                         "Only a class with allowVolumeExpansion: true lets a claim grow; none shrinks."))  # fmt: skip


def add_claim_template(b: _Builder, statefulset: JSONDict, container: JSONDict, image: str) -> str:
    """Give every replica of the StatefulSet its own claim of ``request.storage``; return where it is mounted."""
    assert b.request.storage is not None
    repository = _container_name(image, b.app)
    path = DATA_PATHS.get(repository, DEFAULT_DATA_PATH)
    container["volumeMounts"] = [{"name": CLAIM_TEMPLATE, "mountPath": path}]
    statefulset["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": CLAIM_TEMPLATE},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": b.request.storage}}},
        }
    ]
    _size_note(b, b.request.storage)
    env = _PASSWORD_ENV.get(repository)
    if env is not None:
        b.warnings.append(b.say(
            f"{repository} 이미지는 {env} 없이는 시작하지 않아요: "
            f"kubectl set env statefulset/{b.app} {env}=… 로 넣으세요.",
            f"the {repository} image does not start without {env}: "
            f"set it with kubectl set env statefulset/{b.app} {env}=…"))  # fmt: skip
    b.notes.append(b.say(
        f"클레임 {CLAIM_TEMPLATE}-{b.app}-0…은 스테이트풀셋을 지워도 남아요 (데이터 보존). "
        f"지우려면: {CLAIM_TEMPLATE}-{b.app}-0 볼륨 지워줘",
        f"the claims {CLAIM_TEMPLATE}-{b.app}-0… stay when the statefulset is deleted (the data is kept); "
        f"to delete one: delete claim {CLAIM_TEMPLATE}-{b.app}-0"))  # fmt: skip
    return path


_PLANNERS: dict[Intent, Callable[[_Builder], None]] = {
    Intent.LIST: _plan_list,
    Intent.STATUS: _plan_status,
    Intent.DELETE: _plan_delete,
    Intent.CREATE_CLAIM: _plan_create_claim,
    Intent.RESIZE_CLAIM: _plan_resize_claim,
}
