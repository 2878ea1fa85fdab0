"""``kuberya ask``'s lists of claims, PersistentVolumes and StorageClasses: kubectl's default columns."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from kuberya.cli.ask import ASK_HELP
from kuberya.cli.output import AskOutput, describe_request, plain_table, table_rows
from kuberya.nl import Intent, parse

NOW = dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)
CREATED = "2026-01-01T00:00:00Z"


def meta(name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "creationTimestamp": CREATED, **extra}


BOUND_CLAIM = {
    "metadata": meta("data-redis-0"),
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
             "storageClassName": "local-path", "volumeName": "pvc-123", "volumeMode": "Filesystem"},
    "status": {"phase": "Bound", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"]},
}  # fmt: skip
PENDING_CLAIM = {
    "metadata": meta("cache", annotations={"volume.beta.kubernetes.io/storage-class": "old-class"}),
    "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "5Gi"}}},
    "status": {"phase": "Pending"},
}


def test_claims_show_what_they_got_once_bound() -> None:
    headers, rows = table_rows("persistentvolumeclaims", [BOUND_CLAIM, PENDING_CLAIM], now=NOW)
    assert headers == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS",
                       "VOLUMEATTRIBUTESCLASS", "AGE"]  # fmt: skip
    # Bound: the status's capacity and modes (RWO before ROX, upstream's order), not the request.
    assert rows[0] == ["data-redis-0", "Bound", "pvc-123", "2Gi", "RWO,ROX", "local-path", "<unset>", "5m"]
    # Pending: no capacity, no modes; the beta class annotation wins over storageClassName.
    assert rows[1] == ["cache", "Pending", "", "", "", "old-class", "<unset>", "5m"]
    terminating = {**PENDING_CLAIM, "metadata": meta("gone", deletionTimestamp=CREATED)}
    assert table_rows("persistentvolumeclaims", [terminating], now=NOW)[1][0][1] == "Terminating"


def test_volumes_show_their_claim_and_reason() -> None:
    pv = {
        "metadata": meta("pvc-123"),
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOncePod"],
                 "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path",
                 "claimRef": {"namespace": "shop", "name": "data-redis-0"}},
        "status": {"phase": "Failed", "reason": "VolumeFailedDelete"},
    }  # fmt: skip
    headers, rows = table_rows("persistentvolumes", [pv], now=NOW)
    assert headers == ["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
                       "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"]  # fmt: skip
    assert rows == [["pvc-123", "1Gi", "RWOP", "Delete", "Failed", "shop/data-redis-0", "local-path", "<unset>",
                     "VolumeFailedDelete", "5m"]]  # fmt: skip


def test_storage_classes_mark_the_default() -> None:
    default = {"metadata": meta("local-path", annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
               "provisioner": "kuberya.io/local-path", "reclaimPolicy": "Delete",
               "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True}  # fmt: skip
    other = {"metadata": meta("slow"), "provisioner": "example.com/nfs"}
    headers, rows = table_rows("storageclasses", [default, other], now=NOW)
    assert headers == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"]
    assert rows == [
        ["local-path (default)", "kuberya.io/local-path", "Delete", "WaitForFirstConsumer", "true", "5m"],
        ["slow", "example.com/nfs", "Delete", "Immediate", "false", "5m"],
    ]
    assert plain_table(headers, rows).splitlines()[1].startswith("local-path (default)   kuberya.io/local-path   ")


def test_the_plain_output_prints_the_table() -> None:
    stream = io.StringIO()
    AskOutput(language="en", stream=stream, tty=False).table("persistentvolumeclaims", [BOUND_CLAIM])
    header, row = stream.getvalue().splitlines()
    # kubectl's layout: each column as wide as its widest cell, three spaces apart (a header has spaces).
    assert (
        header
        == "NAME           STATUS   VOLUME    CAPACITY   ACCESS MODES   STORAGECLASS   VOLUMEATTRIBUTESCLASS   AGE"
    )
    cells = "data-redis-0   Bound    pvc-123   2Gi        RWO,ROX        local-path     <unset>   "
    assert row.startswith(cells)
    assert row.split()[-1].endswith("d")  # AGE by the real clock: created long ago


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        ("볼륨 보여줘", "→ 볼륨(PVC와 PV) 목록 보기 (네임스페이스 default)"),
        ("스토리지클래스 보여줘", "→ 스토리지클래스 목록 보기 (네임스페이스 default)"),
        ("show my volumes", "→ list volumes in default"),
    ],
)
def test_storage_lists_are_described_in_the_requests_language(utterance: str, expected: str) -> None:
    assert describe_request(parse(utterance), "default") == expected


@pytest.mark.parametrize(
    ("utterance", "intent"),
    [
        ("redis를 데이터 1Gi로 띄워줘", Intent.RUN_STATEFULSET),
        ("give postgres a 5Gi volume", Intent.RUN_STATEFULSET),
        ("cache 볼륨 1Gi 만들어줘", Intent.CREATE_CLAIM),
        ("볼륨 보여줘", Intent.LIST),
        ("show my volumes", Intent.LIST),
    ],
)
def test_the_help_shows_storage_examples_that_work(utterance: str, intent: Intent) -> None:
    assert f'kuberya ask "{utterance}"' in ASK_HELP
    assert parse(utterance).intent is intent
