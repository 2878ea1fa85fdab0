"""Recognising questions about access and grants of it: who may do what.

:func:`find_access` runs on the normalised text before every other intent. Two shapes, each in
both languages, matched whole (a sentence that only looks like one is left to the other intents:
"can you run payment" is a request to run, not a question about a user called "you"):

* a question whether someone may do something — "can the ci account delete pods?",
  "may alice list secrets in shop?", "ci 계정이 파드를 지울 수 있어?", "alice가 shop에서 시크릿을 볼 수
  있어?" — is CAN_I: the answer ``kubectl auth can-i VERB RESOURCE --as WHO`` gives;
* a grant — "give alice view access to shop", "grant ci edit in dev", "alice한테 shop 네임스페이스
  보기 권한 줘" — is GRANT: a RoleBinding of upstream's ``view``/``edit``/``admin`` ClusterRole.

"account", "service account", "sa", 계정 make the subject a service account (of the request's
namespace, as ``kubectl create rolebinding --serviceaccount`` names one); otherwise it is a user.
Only namespaced resources are recognised: a RoleBinding grants nothing on nodes or namespaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kuberya.nl.normalize import Normalized
from kuberya.nl.plan import Intent, Request, validate_request

_P = re.compile

RESOURCES: dict[str, str] = {
    **{w: "pods" for w in ("pods", "pod", "파드", "포드")},
    **{w: "deployments" for w in ("deployments", "deployment", "deploy", "디플로이먼트", "배포")},
    **{w: "services" for w in ("services", "service", "svc", "서비스")},
    **{w: "secrets" for w in ("secrets", "secret", "시크릿")},
    **{w: "configmaps" for w in ("configmaps", "configmap", "컨피그맵")},
    **{w: "jobs" for w in ("jobs", "job", "잡")},
    **{w: "cronjobs" for w in ("cronjobs", "cronjob", "크론잡")},
    **{w: "statefulsets" for w in ("statefulsets", "statefulset", "스테이트풀셋")},
    **{w: "persistentvolumeclaims" for w in ("pvcs", "pvc", "claims", "persistentvolumeclaims", "클레임", "볼륨")},
    **{w: "events" for w in ("events", "event", "이벤트")},
    **{w: "serviceaccounts" for w in ("serviceaccounts", "서비스어카운트")},
}
"""Namespaced resources by the words people use, to the plural ``kubectl auth can-i`` takes."""

_EN_VERBS = {
    **{w: "get" for w in ("get", "read", "see", "view")},
    **{w: "list" for w in ("list",)},
    **{w: "watch" for w in ("watch",)},
    **{w: "create" for w in ("create", "make")},
    **{w: "update" for w in ("update", "edit", "modify", "change")},
    **{w: "patch" for w in ("patch",)},
    **{w: "delete" for w in ("delete", "remove")},
}
_KO_VERBS = {
    **{w: "delete" for w in ("지울", "지워도", "삭제할", "삭제해도")},
    **{w: "get" for w in ("볼", "봐도", "조회할", "조회해도", "읽을", "읽어도")},
    **{w: "list" for w in ("나열할",)},
    **{w: "create" for w in ("만들", "만들어도", "생성할", "생성해도")},
    **{w: "update" for w in ("수정할", "수정해도", "바꿀", "바꿔도", "고칠")},
}
_ROLES = {
    **{w: "view" for w in ("view", "read", "read-only", "readonly", "보기", "읽기", "조회")},
    **{w: "edit" for w in ("edit", "write", "편집", "수정", "쓰기")},
    **{w: "admin" for w in ("admin", "관리", "관리자", "어드민")},
}


def _alternation(words: Iterable[str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_WHO = r"(?P<who>[a-z0-9][a-z0-9:._@-]*)"
_NS = r"(?P<ns>[a-z0-9][a-z0-9-]*)"
_EN_ACCOUNT = r"(?P<sa> (?:service ?)?account| sa| serviceaccount)?(?: user)?"
_EN_CAN = _P(
    rf"^(?:can|may|could|is) (?:the )?{_WHO}{_EN_ACCOUNT} (?:be allowed to |allowed to |really )?"
    rf"(?P<verb>{_alternation(_EN_VERBS)}) (?:the |any |all )?(?P<what>{_alternation(RESOURCES)})"
    rf"(?: (?:in|on) (?:the )?(?:namespace )?{_NS}(?: namespace)?)?$"
)
_KO_ACCOUNT = r"(?: ?(?P<sa>(?:서비스 ?)?계정|sa|서비스어카운트))?"
_KO_CAN = _P(
    rf"^{_WHO}{_KO_ACCOUNT} ?(?:이|가|은|는|도)? (?:{_NS} ?(?:네임스페이스)? ?에서 )?"
    rf"(?P<what>{_alternation(RESOURCES)}) ?(?:를|을|은|는|도)? (?P<verb>{_alternation(_KO_VERBS)}) ?"
    r"(?:수 ?있(?:어|나|니|어요|나요|습니까|는지|을까)?|돼|되나|될까|되니)(?: ?요)?$"
)
_EN_GRANT = _P(
    rf"^(?:give|grant) (?:the )?{_WHO}{_EN_ACCOUNT} (?P<role>{_alternation(_ROLES)})"
    r"(?: (?:access|rights|permissions?|role|privileges))?"
    rf"(?: (?:to|in|on|for) (?:the )?(?:namespace )?{_NS}(?: namespace)?)?$"
)
_KO_GRANT = _P(
    rf"^{_WHO}{_KO_ACCOUNT} ?(?:한테|에게|께) (?:{_NS} ?(?:네임스페이스)? ?(?:에서|의|에)? )?"
    rf"(?P<role>{_alternation(_ROLES)}) ?권한 ?(?:을|를)? ?"
    r"(?:줘|주세요|줘요|부여해 ?줘|부여해 ?주세요|부여해|달아 ?줘)$"
)
_NOT_A_SUBJECT = frozenset({"you", "i", "we", "it", "내가", "제가", "나", "저"})


def find_access(norm: Normalized) -> Request | None:
    """The CAN_I or GRANT request the text is, validated; None when it is neither."""
    text = norm.text
    for pattern, intent, verbs in (
        (_EN_CAN, Intent.CAN_I, _EN_VERBS),
        (_KO_CAN, Intent.CAN_I, _KO_VERBS),
        (_EN_GRANT, Intent.GRANT, None),
        (_KO_GRANT, Intent.GRANT, None),
    ):
        m = pattern.match(text)
        if m is None or m["who"] in _NOT_A_SUBJECT:
            continue
        asked = verbs is not None
        return validate_request(
            Request(
                intent,
                subject=m["who"],
                subject_kind="ServiceAccount" if m["sa"] else "User",
                namespace=m["ns"],
                verb=verbs[m["verb"]] if verbs is not None else None,
                resource=RESOURCES[m["what"]] if asked else None,
                role=None if asked else _ROLES[m["role"]],
                language=norm.language,
            )
        )
    return None
