"""Real kubectl reads kuberya's OpenAPI v3 documents: ``kubectl explain`` shows upstream text.

A minimal aiohttp app on loopback serves just what ``explain`` needs (version, legacy discovery,
the OpenAPI v3 index and documents from ``kuberya.resources.schema``); both kubectl binaries
are pointed at it through a throwaway kubeconfig and HOME, so no discovery cache is shared.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from kuberya.resources.schema import openapi_v3_document_json, openapi_v3_index

KUBECTLS = [
    pytest.param("/usr/bin/kubectl", id="kubectl-1.32"),
    pytest.param(str(Path(sys.executable).parent / "kubectl"), id="kubectl-1.37"),
]

VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25",
    "compiler": "gc",
    "platform": "linux/amd64",
}
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _resource(name: str, kind: str, short: list[str], namespaced: bool = True) -> dict[str, object]:
    return {
        "name": name,
        "singularName": kind.lower(),
        "namespaced": namespaced,
        "kind": kind,
        "verbs": ALL_VERBS,
        "shortNames": short,
    }


DISCOVERY = {
    "/api": {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    },
    "/apis": {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": "apps",
                "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
            }
        ],
    },
    "/api/v1": {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "v1",
        "resources": [
            _resource("pods", "Pod", ["po"]),
            _resource("namespaces", "Namespace", ["ns"], namespaced=False),
        ],
    },
    "/apis/apps/v1": {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "apps/v1",
        "resources": [
            _resource("deployments", "Deployment", ["deploy"]),
        ],
    },
}


def _app() -> web.Application:
    async def version(_: web.Request) -> web.Response:
        return web.json_response(VERSION)

    async def discovery(request: web.Request) -> web.Response:
        # Plain application/json: kubectl asks for aggregated discovery first and falls back.
        return web.json_response(DISCOVERY[request.path])

    async def index(_: web.Request) -> web.Response:
        return web.json_response(openapi_v3_index())

    async def document(request: web.Request) -> web.Response:
        body = openapi_v3_document_json(request.match_info["gv"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/version", version)
    for path in DISCOVERY:
        app.router.add_get(path, discovery)
    app.router.add_get("/openapi/v3", index)
    app.router.add_get("/openapi/v3/{gv:.+}", document)
    return app


@pytest.fixture
async def server_url() -> AsyncIterator[str]:
    runner = web.AppRunner(_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _kubectl(kubectl: str, server: str, home: Path, *args: str) -> str:
    if not shutil.which(kubectl):
        pytest.skip(f"{kubectl} is not installed")
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
        f"clusters: [{{name: t, cluster: {{server: '{server}'}}}}]\n"
        "contexts: [{name: t, context: {cluster: t, user: t}}]\nusers: [{name: t, user: {}}]\n"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
    process = await asyncio.create_subprocess_exec(
        kubectl,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


def _flat(text: str) -> str:
    """Explain wraps descriptions at 80 columns; compare with whitespace collapsed."""
    return " ".join(text.split())


@pytest.mark.parametrize("kubectl", KUBECTLS)
async def test_explain_deployment_strategy(kubectl: str, server_url: str, tmp_path: Path) -> None:
    out = _flat(await _kubectl(kubectl, server_url, tmp_path, "explain", "deployment.spec.strategy"))
    assert "KIND: Deployment" in out
    assert "VERSION: v1" in out
    assert "DeploymentStrategy describes how to replace existing pods with new ones." in out
    assert 'Type of deployment. Can be "Recreate" or "RollingUpdate". Default is RollingUpdate.' in out
    assert "rollingUpdate <RollingUpdateDeployment>" in out


@pytest.mark.parametrize("kubectl", KUBECTLS)
async def test_explain_container_image(kubectl: str, server_url: str, tmp_path: Path) -> None:
    out = _flat(await _kubectl(kubectl, server_url, tmp_path, "explain", "pods.spec.containers.image"))
    assert "KIND: Pod" in out
    assert "FIELD: image <string>" in out
    assert "Container image name. More info: https://kubernetes.io/docs/concepts/containers/images" in out


@pytest.mark.parametrize("kubectl", KUBECTLS)
async def test_explain_int_or_string_and_quantity(kubectl: str, server_url: str, tmp_path: Path) -> None:
    strategy = _flat(
        await _kubectl(
            kubectl,
            server_url,
            tmp_path,
            "explain",
            "deployment.spec.strategy.rollingUpdate",
        )
    )
    assert "maxSurge <IntOrString>" in strategy
    resources = _flat(
        await _kubectl(
            kubectl,
            server_url,
            tmp_path,
            "explain",
            "pod.spec.containers.resources",
        )
    )
    assert "limits <map[string]Quantity>" in resources
