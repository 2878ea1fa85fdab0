"""Which ``Accept`` headers a resource request can be answered for: the rest are 406 NotAcceptable.

Upstream negotiates the output media type of every resource request against the serializers it
has (``negotiation.NegotiateOutputMediaType``) and answers ``Accept: text/html`` with a 406
``Status``. kuberya encodes JSON; it answers the YAML and protobuf media types with JSON too
(their clients decode by the response's ``Content-Type``), and a media type asking for a
conversion (``as=Table``, ``as=PartialObjectMetadata``) is acceptable when it names one upstream
serves. A header that names no media type at all is treated as absent, as aiohttp would.
The pod streaming subresources (``log``, ``exec``…) speak their own media types and are not
negotiated here.
"""

from __future__ import annotations

from kuberya.apiserver.errors import StatusError

SERVED = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
"""What upstream lists in its 406; ``*/*`` and ``application/*`` match the first."""
CONVERSIONS = frozenset({"Table", "PartialObjectMetadata", "PartialObjectMetadataList"})


def acceptable(accept: str) -> bool:
    """Whether one of the media ranges in an ``Accept`` header can be answered."""
    named = False
    for clause in accept.split(","):
        media, *raw_params = (part.strip() for part in clause.split(";"))
        kind, _, subtype = media.lower().partition("/")
        if not kind or not subtype:
            continue
        named = True
        params = dict(p.partition("=")[::2] for p in raw_params)
        if _quality(params.get("q", "1")) <= 0:
            continue
        if subtype == "*" and kind in ("*", "application"):
            return True
        if f"{kind}/{subtype}" in SERVED and params.get("as", "Table") in CONVERSIONS:
            return True
    return not named


def _quality(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 1.0  # an unreadable weight is no weight


def not_acceptable() -> StatusError:
    return StatusError(406, "NotAcceptable", f"only the following media types are accepted: {', '.join(SERVED)}")
