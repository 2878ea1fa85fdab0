"""Plans for access: the can-i answer, and a RoleBinding to upstream's view/edit/admin.

As in :mod:`~kuberya.nl.build`, each body is what the ``kubectl`` line beside it amounts to:

* CAN_I is a ``LocalSubjectAccessReview`` in the request's namespace, the question ``kubectl auth
  can-i VERB RESOURCE --as WHO`` asks through impersonation; the runner shows its answer, yes or
  no. A service account is asked about as its user ``system:serviceaccount:NS:NAME`` with the
  groups upstream's authenticator gives it (``system:serviceaccounts``,
  ``system:serviceaccounts:NS``, ``system:authenticated``), so the answer is the one its token meets;
* GRANT is the RoleBinding ``kubectl create rolebinding NAME --clusterrole=ROLE --user=WHO`` (or
  ``--serviceaccount=NS:NAME``) creates, named ``WHO-ROLE``: the ClusterRole's rules in that one
  namespace. Granting is itself checked by the API server (nobody grants beyond their own rights).
"""

from __future__ import annotations

from collections.abc import Callable

from kuberya.nl.build import _Builder
from kuberya.nl.plan import Intent, JSONDict, Verb

RBAC_GROUP = "rbac.authorization.k8s.io"
_GROUPS = {"deployments": "apps", "statefulsets": "apps", "jobs": "batch", "cronjobs": "batch"}
"""The API group of each resource CAN_I recognises that is not in the core group."""
_ROLE_WORDS = {"view": ("보기", "read-only"), "edit": ("편집", "edit"), "admin": ("관리", "admin")}


def plan_access(b: _Builder) -> None:
    _PLANNERS[b.request.intent](b)


def _subject(b: _Builder) -> tuple[str, tuple[str, ...]]:
    """The user name and groups the API server sees for the request's subject."""
    assert b.request.subject is not None, "validate_request guarantees a subject"
    if b.request.subject_kind == "ServiceAccount":
        return (
            f"system:serviceaccount:{b.ns}:{b.request.subject}",
            ("system:serviceaccounts", f"system:serviceaccounts:{b.ns}", "system:authenticated"),
        )
    if b.request.subject_kind == "Group":
        return "", (b.request.subject,)
    return b.request.subject, ("system:authenticated",)


def access_review(namespace: str, user: str, groups: tuple[str, ...], verb: str, resource: str) -> JSONDict:
    spec: JSONDict = {
        "resourceAttributes": {
            "namespace": namespace,
            "verb": verb,
            "group": _GROUPS.get(resource, ""),
            "resource": resource,
        },
        "groups": list(groups),
    }
    if user:
        spec["user"] = user
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "LocalSubjectAccessReview",
        "metadata": {"namespace": namespace},
        "spec": spec,
    }


def _plan_can_i(b: _Builder) -> None:
    assert b.request.verb is not None and b.request.resource is not None
    user, groups = _subject(b)
    verb, resource = b.request.verb, b.request.resource
    who = ["--as", user] if user else ["--as", "nobody", "--as-group", groups[0]]
    b.add(
        b.say(f"{user or groups[0]} 권한 확인 ({verb} {resource})", f"can {user or groups[0]} {verb} {resource}?"),
        b.kubectl("auth", "can-i", verb, resource, *who),
        b.op(Verb.CREATE, "authorization.k8s.io/v1", "localsubjectaccessreviews",
             body=access_review(b.ns, user, groups, verb, resource)),
    )  # fmt: skip


def role_binding(namespace: str, name: str, role: str, subject: JSONDict) -> JSONDict:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }


def _plan_grant(b: _Builder) -> None:
    assert b.request.subject is not None and b.request.role is not None
    who, role = b.request.subject, b.request.role
    b.ensure_namespace()
    if b.request.subject_kind == "ServiceAccount":
        subject: JSONDict = {"kind": "ServiceAccount", "name": who, "namespace": b.ns}
        flag = f"--serviceaccount={b.ns}:{who}"
    elif b.request.subject_kind == "Group":
        subject, flag = {"apiGroup": RBAC_GROUP, "kind": "Group", "name": who}, f"--group={who}"
    else:
        subject, flag = {"apiGroup": RBAC_GROUP, "kind": "User", "name": who}, f"--user={who}"
    name = f"{who.replace(':', '-')}-{role}"
    user = _subject(b)[0] or who
    ko, en = _ROLE_WORDS[role]
    b.add(
        b.say(f"{who}에게 {b.ns} 네임스페이스 {ko} 권한 (ClusterRole {role}) 부여",
              f"give {who} {en} access ({role}) in namespace {b.ns}"),
        b.kubectl("create", "rolebinding", name, f"--clusterrole={role}", flag),
        b.op(Verb.CREATE, f"{RBAC_GROUP}/v1", "rolebindings", name, body=role_binding(b.ns, name, role, subject)),
    )  # fmt: skip
    b.notes.append(b.say(f"확인: kubectl auth can-i list pods --as {user} -n {b.ns}",
                         f"check it: kubectl auth can-i list pods --as {user} -n {b.ns}"))  # fmt: skip


_PLANNERS: dict[Intent, Callable[[_Builder], None]] = {Intent.CAN_I: _plan_can_i, Intent.GRANT: _plan_grant}
