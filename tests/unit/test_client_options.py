"""Each verb's keyword options are declared once (``kuberya.client.prepare``) and taken by all.

The protocol, the real client, the fake and the request builders must take the same ``TypedDict``
for each verb, so an option added there reaches every one of them; a misspelt keyword is refused
(by mypy in typed code, at run time with a ``TypeError`` elsewhere), never silently dropped.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, Unpack, get_args, get_origin, get_type_hints

import pytest

from kuberya.client import prepare
from kuberya.client.api import ApiClient
from kuberya.client.fake import FakeApiClient
from kuberya.client.interface import KubeClient
from kuberya.client.prepare import PreparedRequest
from kuberya.client.resources import DEPLOYMENTS, PODS
from tests.builders import deployment

OPTIONS = {
    "get": prepare.GetOptions,
    "list": prepare.ListOptions,
    "watch": prepare.WatchOptions,
    "create": prepare.WriteOptions,
    "update": prepare.UpdateOptions,
    "update_status": prepare.WriteOptions,
    "patch": prepare.PatchOptions,
    "delete": prepare.DeleteOptions,
    "raw": prepare.RawOptions,
}


def options_type(function: Callable[..., Any]) -> Any:
    """The ``TypedDict`` behind ``**options: Unpack[...]`` of ``function``."""
    hint = get_type_hints(function, include_extras=True)["options"]
    assert get_origin(hint) is Unpack, f"{function.__qualname__} takes **options: {hint}"
    return get_args(hint)[0]


@pytest.mark.parametrize("verb", sorted(OPTIONS))
def test_every_implementation_takes_the_one_declaration(verb: str) -> None:
    for implementation in (KubeClient, ApiClient, FakeApiClient):
        assert options_type(getattr(implementation, verb)) is OPTIONS[verb], (implementation, verb)
    if builder := getattr(prepare, f"prepare_{verb}", None):
        assert options_type(builder) is OPTIONS[verb]


def test_update_status_is_written_once() -> None:
    assert ApiClient.update_status is KubeClient.update_status
    assert FakeApiClient.update_status is KubeClient.update_status


class Recording(ApiClient):
    """The real client with the network cut off: it keeps the requests it would send."""

    def __init__(self) -> None:
        super().__init__("https://127.0.0.1:1", ssl=False)
        self.sent: list[PreparedRequest] = []

    async def _send_object(self, req: PreparedRequest) -> dict[str, Any]:
        self.sent.append(req)
        return {}


async def test_update_status_puts_the_status_subresource_in_both_clients() -> None:
    api = Recording()
    await api.update_status(DEPLOYMENTS, deployment("web"), namespace="default", field_manager="m", dry_run=True)
    (req,) = api.sent
    assert (req.method, req.path) == ("PUT", "/apis/apps/v1/namespaces/default/deployments/web/status")
    assert dict(req.params) == {"fieldManager": "m", "dryRun": "All"}

    fake = FakeApiClient()
    fake.add(DEPLOYMENTS, deployment("web"))
    await fake.update_status(DEPLOYMENTS, {**deployment("web"), "status": {"replicas": 2}}, namespace="default")
    (action,) = fake.actions
    assert (action.verb, action.subresource) == ("update", "status")
    assert fake.stored(DEPLOYMENTS, "web", namespace="default")["status"] == {"replicas": 2}  # type: ignore[index]


async def test_the_fake_records_the_delete_options_the_server_is_sent() -> None:
    options: prepare.DeleteOptions = {
        "namespace": "default",
        "propagation_policy": "Orphan",
        "grace_period_seconds": 0,
        "preconditions": {"uid": "u1"},
    }
    api = Recording()
    await api.delete(DEPLOYMENTS, "web", **options)
    sent = json.loads(api.sent[0].body or b"{}")
    fake = FakeApiClient()
    fake.reactors.append(lambda action: {"kind": "Status"})
    await fake.delete(DEPLOYMENTS, "web", **options)
    assert sent == {"kind": "DeleteOptions", "apiVersion": "v1", **fake.actions[0].body}
    assert fake.actions[0].body == {
        "propagationPolicy": "Orphan",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u1"},
    }


@pytest.mark.parametrize("client", [Recording, FakeApiClient])
async def test_a_misspelt_or_missing_option_is_refused_at_run_time(client: Callable[[], KubeClient]) -> None:
    kube: Any = client()  # Any: these calls are what mypy refuses; here the run time must too
    with pytest.raises(TypeError, match="list\\(\\) got an unexpected keyword argument 'labelSelector'"):
        await kube.list(PODS, namespace="default", labelSelector="app=web")
    with pytest.raises(TypeError, match="unexpected keyword argument 'subresource'"):
        await kube.create(PODS, {"metadata": {"name": "p"}}, namespace="default", subresource="status")
    with pytest.raises(TypeError, match="patch\\(\\) missing a required keyword argument: 'patch_type'"):
        await kube.patch(PODS, "p", {}, namespace="default")
    with pytest.raises(TypeError, match="raw\\(\\) got an unexpected keyword argument 'data'"):
        await kube.raw("POST", "/api/v1/namespaces/default/pods/p/eviction", data={})
    with pytest.raises(TypeError, match="unexpected keyword argument 'timeout'"):
        async for _ in kube.watch(PODS, resource_version="1", timeout=5):
            pass


WRONG_CALLS = """
from kuberya.client.interface import KubeClient
from kuberya.client.resources import PODS


async def use(client: KubeClient) -> None:
    await client.get(PODS, "p", namespace="ns", label_selector="x")
    await client.create(PODS, {}, subresource="status")
    await client.patch(PODS, "p", {}, namespace="ns")
    await client.delete(PODS, "p", propagation_policy="Sideways")
    await client.list(PODS, limit="3")
    await client.update_status(PODS, {}, namespace="ns", dry_run=True)
"""


def test_mypy_refuses_a_keyword_the_verb_does_not_take(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    source = tmp_path / "wrong_calls.py"
    source.write_text(textwrap.dedent(WRONG_CALLS))
    out, _, status = api.run(["--strict", "--no-error-summary", "--hide-error-context", str(source)])
    errors = sorted(line.split(": error: ")[1] for line in out.splitlines() if ": error: " in line)
    assert status == 1
    assert errors == [
        'Argument "limit" to "list" of "KubeClient" has incompatible type "str"; expected "int | None"  [arg-type]',
        'Argument "propagation_policy" to "delete" of "KubeClient" has incompatible type "Literal[\'Sideways\']"; '
        "expected \"Literal['Background', 'Foreground', 'Orphan'] | None\"  [arg-type]",
        'Missing named argument "patch_type" for "patch" of "KubeClient"  [call-arg]',
        'Unexpected keyword argument "label_selector" for "get" of "KubeClient"  [call-arg]',
        'Unexpected keyword argument "subresource" for "create" of "KubeClient"  [call-arg]',
    ]
