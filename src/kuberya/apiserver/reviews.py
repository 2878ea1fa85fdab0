"""The never-stored review resources: questions answered by the authorizer or the authenticator.

Upstream serves them with create-only REST storages (``pkg/registry/authorization/*/rest.go``,
``pkg/registry/authentication/selfsubjectreview``); kuberya answers them here, from the live
:class:`~kuberya.apiserver.rbac_index.RBACIndex` the authorization filter uses, so a review says
exactly what a real request would meet:

* ``SubjectAccessReview`` / ``LocalSubjectAccessReview``: may ``spec.user`` (with ``spec.groups``)
  do ``spec.resourceAttributes`` (or ``nonResourceAttributes``)? The local one is confined to the
  namespace of its URL, which its attributes must name.
* ``SelfSubjectAccessReview``: the same for whoever sends it (``kubectl auth can-i``).
* ``SelfSubjectRulesReview``: every rule the sender holds in ``spec.namespace``
  (``kubectl auth can-i --list``), split into resource and non-resource rules.
* ``SelfSubjectReview``: the sender as authentication found them (``kubectl auth whoami``).

The body is decoded and validated as any write (400 for a wrong type, 422 with upstream's
messages), the answer is the review with its ``status`` filled, ``201 Created``, and nothing is
kept. Who may create which review is the authorization filter's business, as upstream's
bootstrap roles grant it (``system:basic-user``: the SelfSubject reviews).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kuberya.apiserver import errors
from kuberya.apiserver.authorization import INDEX_KEY
from kuberya.apiserver.rbac_index import RBACIndex
from kuberya.apiserver.rbac_rules import Attributes, Rule
from kuberya.apiserver.request import ResourcePath, read_object
from kuberya.apiserver.users import UserInfo, user_of
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject

if TYPE_CHECKING:
    from kuberya.apiserver.handlers import ResourceHandlers

ALL_VERSIONS = "*"
"""Upstream's ``matchAllVersionIfEmpty``: a review that names no version asks about every one."""
_EMPTY_INDEX = RBACIndex()


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def subject_of(spec: JSONObject) -> UserInfo:
    """The user a (Local)SubjectAccessReview asks about: ``spec.user`` with ``spec.groups``."""
    return UserInfo(str(spec.get("user") or ""), tuple(_strings(spec.get("groups"))))


def attributes_of(user: UserInfo, spec: JSONObject) -> Attributes:
    """Upstream's ``ResourceAttributesFrom`` / ``NonResourceAttributesFrom`` (``util/helpers.go``)."""
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return Attributes(
            user,
            str(resource.get("verb") or ""),
            True,
            namespace=str(resource.get("namespace") or ""),
            api_group=str(resource.get("group") or ""),
            api_version=str(resource.get("version") or ALL_VERSIONS),
            resource=str(resource.get("resource") or ""),
            subresource=str(resource.get("subresource") or ""),
            name=str(resource.get("name") or ""),
        )
    non_resource = spec.get("nonResourceAttributes")
    attrs = non_resource if isinstance(non_resource, dict) else {}
    return Attributes(user, str(attrs.get("verb") or ""), False, path=str(attrs.get("path") or ""))


def access_status(index: RBACIndex, attrs: Attributes) -> JSONObject:
    """A ``SubjectAccessReviewStatus``: RBAC allows or has no opinion (it never denies outright)."""
    allowed, reason = index.authorize(attrs)
    status: JSONObject = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return status


def rules_status(index: RBACIndex, user: UserInfo, namespace: str) -> JSONObject:
    """A ``SubjectRulesReviewStatus``: the user's rules in ``namespace``, as upstream's ``RulesFor``."""
    resource_rules: list[JSONObject] = []
    non_resource_rules: list[JSONObject] = []
    for rule in index.rules_for(user, namespace):
        if _strings(rule.get("resources")):
            resource_rules.append(_resource_rule(rule))
        elif _strings(rule.get("nonResourceURLs")):
            non_resource_rules.append(
                {"verbs": _strings(rule.get("verbs")), "nonResourceURLs": _strings(rule.get("nonResourceURLs"))}
            )
    return {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": False}


def _resource_rule(rule: Rule) -> JSONObject:
    out: JSONObject = {"verbs": _strings(rule.get("verbs")), "apiGroups": _strings(rule.get("apiGroups"))}
    out["resources"] = _strings(rule.get("resources"))
    if names := _strings(rule.get("resourceNames")):
        out["resourceNames"] = names
    return out


def user_info(user: UserInfo) -> JSONObject:
    """An authentication/v1 ``UserInfo``, as a SelfSubjectReview reports it."""
    return {"username": user.name, "groups": list(user.groups)}


def _spec(review: JSONObject) -> JSONObject:
    spec = review.get("spec")
    return spec if isinstance(spec, dict) else {}


def _subject_access(index: RBACIndex, review: JSONObject, sender: UserInfo) -> JSONObject:
    del sender
    spec = _spec(review)
    return access_status(index, attributes_of(subject_of(spec), spec))


def _self_access(index: RBACIndex, review: JSONObject, sender: UserInfo) -> JSONObject:
    return access_status(index, attributes_of(sender, _spec(review)))


def _self_rules(index: RBACIndex, review: JSONObject, sender: UserInfo) -> JSONObject:
    namespace = str(_spec(review).get("namespace") or "")
    if not namespace:
        raise errors.bad_request("no namespace on request")
    return rules_status(index, sender, namespace)


def _self_subject(index: RBACIndex, review: JSONObject, sender: UserInfo) -> JSONObject:
    del index, review
    return {"userInfo": user_info(sender)}


Answer = Callable[[RBACIndex, JSONObject, UserInfo], JSONObject]
ANSWERS: dict[str, Answer] = {
    "SubjectAccessReview": _subject_access,
    "LocalSubjectAccessReview": _subject_access,
    "SelfSubjectAccessReview": _self_access,
    "SelfSubjectRulesReview": _self_rules,
    "SelfSubjectReview": _self_subject,
}
"""Kind → its answer (the review's ``status``), given the live index, the review and its sender."""


def answer(index: RBACIndex, review: JSONObject, sender: UserInfo) -> JSONObject:
    """Validate a decoded review (422 as upstream) and return it with its ``status`` filled."""
    kind = str(review.get("kind", ""))
    spec = kinds.spec_for_kind(kind)
    if spec is None or kind not in ANSWERS:
        raise errors.bad_request(f"{kind or 'the object'} is not a review kuberya answers")
    causes = spec.validate(review, None) if spec.validate is not None else []
    if causes:
        raise errors.invalid(spec.group, kind, "", causes)
    out = copy.deepcopy(review)
    metadata = out.get("metadata")
    out["metadata"] = {"creationTimestamp": None, **(metadata if isinstance(metadata, dict) else {})}
    out["status"] = ANSWERS[kind](index, out, sender)
    return out


async def create(handlers: ResourceHandlers, request: web.Request, path: ResourcePath) -> web.Response:
    """POST of a review: decode, validate, answer (201); every other method is refused."""
    rt = path.rt
    if request.method != "POST" or path.name is not None:
        raise errors.method_not_allowed(f"{request.method} is not supported on {rt.resource}: only create is")
    review = await read_object(request)
    handlers.check_body_kind(rt, review)
    warnings = handlers.check_fields(request, rt, review)
    metadata = review.setdefault("metadata", {})
    if rt.namespaced and isinstance(metadata, dict):
        # Upstream's local review: the URL's namespace is the review's, or a 400.
        if metadata.get("namespace") and metadata["namespace"] != path.namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        metadata["namespace"] = path.namespace or ""
    index = request.app.get(INDEX_KEY, _EMPTY_INDEX)
    answered = answer(index, review, user_of(request))
    return handlers.respond(request, rt, answered, status=201, warnings=warnings)
