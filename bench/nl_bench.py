"""Benchmark the natural-language parser: accuracy over the utterance set, and parse time.

Goals (issue §1): every utterance of ``tests/nl/utterances.yaml`` parses to its expected request
(or is refused as expected), and a parse takes < 10 ms (p99). After one warm-up pass each
utterance is parsed ``--rounds`` times with the GC off (as ``timeit`` does); the report gives
accuracy overall, per language and per intent, the misses, and parse time two ways: over every
single parse (p50/p99/max — includes the machine's scheduling noise) and over utterances, each
counted at its median (p99 — the parser's own cost, what the goal is about).

    .venv/bin/python bench/nl_bench.py [--rounds 20] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.nl.cases

from tests.nl.cases import Case, check, load_cases

from kuberya.nl import NLError, parse


def label(case: Case) -> str:
    return case.expected.intent.value if case.expected else f"refuse:{case.error}"


def timed_parse(text: str) -> float:
    start = time.perf_counter()
    with contextlib.suppress(NLError):
        parse(text)
    return time.perf_counter() - start


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()

    cases = load_cases()
    misses = {case.text: problem for case in cases if (problem := check(case)) is not None}
    runs: dict[str, list[float]] = {case.text: [] for case in cases}
    gc.disable()
    try:
        for _ in range(args.rounds):
            for case in cases:
                runs[case.text].append(timed_parse(case.text))
    finally:
        gc.enable()
    every = sorted(t for ts in runs.values() for t in ts)
    medians = sorted(statistics.median(ts) for ts in runs.values())
    ms = {
        "p50": statistics.median(every) * 1000,
        "p99": percentile(every, 0.99) * 1000,
        "max": every[-1] * 1000,
        "p99_of_medians": percentile(medians, 0.99) * 1000,
    }
    total, passed = Counter[str](), Counter[str]()
    for case in cases:
        for key in ("all", "ko" if re.search("[가-힣]", case.text) else "en", label(case)):
            total[key] += 1
            passed[key] += case.text not in misses
    accuracy = {key: passed[key] / total[key] for key in total}

    if args.json:
        print(json.dumps({"cases": len(cases), "accuracy": accuracy, "parse_ms": ms, "misses": misses}, indent=2))
    else:
        print(f"utterances: {len(cases)}  (ko {total['ko']}, en {total['en']})")
        for key in ("all", "ko", "en", *sorted(k for k in total if k not in ("all", "ko", "en"))):
            print(f"  {key:<24} {passed[key]:>4}/{total[key]:<4} {accuracy[key]:7.1%}")
        print(
            f"parse time, every parse: p50 {ms['p50']:.3f} ms  p99 {ms['p99']:.3f} ms  max {ms['max']:.3f} ms\n"
            f"parse time, per utterance (median of {args.rounds}): p99 {ms['p99_of_medians']:.3f} ms"
        )
        for text, problem in misses.items():
            print(f"  MISS {text!r}: {problem}")
    return 0 if not misses and ms["p99_of_medians"] < 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
