"""Every served operation of the fuzzed groups, fuzzed by schemathesis with a fixed seed.

One test per group/version, each over all of its operations in positive and negative generation
modes, a few examples per operation and mode and a time cap per operation, so that the whole tier
takes about three minutes on a 2-core machine. A failure lists every distinct finding with the
shortest request that showed it (see :mod:`tests.fuzz.harness` for what is checked).
``bench/fuzz_campaign.py`` is the long, random-seed version.
"""

from __future__ import annotations

import pytest

from tests.fuzz import harness
from tests.fuzz.conftest import FuzzServer

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(240)]

MAX_EXAMPLES = 10
"""Per operation and generation mode."""
SECONDS_PER_OPERATION = {"api/v1": 0.5, "apis/apps/v1": 0.6}
"""Both modes together. The core group has 120 of the ~270 operations and apps 56; they get less
each, so that the whole tier (with the hostile inputs) stays under about four minutes on a loaded
2-core machine. The small groups reach ``MAX_EXAMPLES`` before their cap."""
DEFAULT_SECONDS_PER_OPERATION = 1.0


@pytest.mark.parametrize("group_version", harness.GROUP_VERSIONS)
def test_no_5xx_and_every_answer_is_well_formed(fuzz_server: FuzzServer, group_version: str) -> None:
    schema = harness.fuzzable(harness.served_schema(fuzz_server.session, fuzz_server.url, [group_version]))
    fuzzer = harness.Fuzzer(fuzz_server.session, fuzz_server.url, server_log=fuzz_server.log)
    fuzzer.fuzz(
        schema,
        max_examples=MAX_EXAMPLES,
        seconds_per_operation=SECONDS_PER_OPERATION.get(group_version, DEFAULT_SECONDS_PER_OPERATION),
        seed=None,
    )
    campaign = fuzzer.campaign
    print(campaign.report())
    served = sum(1 for item in schema["paths"].values() for method in item if method != "parameters")
    assert len(campaign.operations) == served, "an operation was never fuzzed"
    assert campaign.examples >= served * 2
    assert not campaign.findings, campaign.report()


def test_fuzzing_leaves_the_served_documents_alone(fuzz_server: FuzzServer) -> None:
    """The fuzz copy adds patch bodies; the served documents keep none (kubectl depends on it)."""
    served = harness.served_schema(fuzz_server.session, fuzz_server.url)
    fuzzed = harness.fuzzable(served)
    patches = [item["patch"] for item in served["paths"].values() if "patch" in item]
    assert patches and all("requestBody" not in op for op in patches)
    fuzzed_patches = [item["patch"] for item in fuzzed["paths"].values() if "patch" in item]
    assert all(set(op["requestBody"]["content"]) == set(harness.PATCH_MEDIA_TYPES) for op in fuzzed_patches)
