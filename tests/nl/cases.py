"""The utterance test set (``utterances.yaml``) as data, shared by the unit test and the benchmark."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kuberya.nl import Ambiguous, Intent, NLError, NotUnderstood, Request, parse

UTTERANCES = Path(__file__).with_name("utterances.yaml")
ERRORS: dict[str, type[NLError]] = {"not_understood": NotUnderstood, "ambiguous": Ambiguous}


@dataclass(frozen=True)
class Case:
    text: str
    expected: Request | None
    """None when the text must be refused with ``error``."""
    error: str | None


def load_cases(path: Path = UTTERANCES) -> list[Case]:
    cases = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8")):
        fields: dict[str, Any] = dict(entry)
        text = str(fields.pop("text"))
        error = fields.pop("error", None)
        expected = None
        if error is None:
            fields["intent"] = Intent(fields["intent"])
            if "command" in fields:
                fields["command"] = tuple(fields["command"])  # YAML has lists; a Request holds a tuple
            expected = Request(**fields)
        cases.append(Case(text, expected, error))
    return cases


def check(case: Case) -> str | None:
    """None when the parser meets the case, else what went wrong."""
    try:
        got = parse(case.text)
    except NLError as e:
        if case.error is not None and isinstance(e, ERRORS[case.error]):
            return None
        return f"raised {type(e).__name__}: {e}"
    if case.expected is None:
        return f"expected {case.error}, got {_fields(got)}"
    got = dataclasses.replace(got, language=case.expected.language)  # language is tested on its own
    return None if got == case.expected else f"expected {_fields(case.expected)}, got {_fields(got)}"


def _fields(request: Request) -> dict[str, object]:
    return {k: v for k, v in request.to_dict().items() if v not in (None, False) and k != "language"}
