"""What RBAC costs: the authorizer per request with 1,000 RoleBindings, and API list p99 as a user vs the admin.

1. In-process: an :class:`~kuberya.apiserver.rbac_index.RBACIndex` holding upstream's bootstrap
   policy and 1,000 RoleBindings (100 namespaces × 10 users) answers ``list pods`` for a bound
   user (allowed), an unbound one (denied, the worst case: every grant of its groups is visited)
   and an admin; plus the request's attributes (``request_attributes``) for the whole filter's
   cost. Goal: p99 < 0.2 ms.
2. A real server (its own data dir) with the same 1,000 RoleBindings: p50/p99 of listing 100
   ConfigMaps as a user bound to ``view`` (RBAC decides) and as the admin (``system:masters``,
   allowed before RBAC), interleaved in the same run.

    .venv/bin/python bench/authz_bench.py [--n 300]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ssl
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from aiohttp.test_utils import make_mocked_request

from bench.api_bench import percentile, report
from bench.harness import bench_cluster
from kuberya.apiserver import rbac_bootstrap
from kuberya.apiserver.authorization import request_attributes
from kuberya.apiserver.rbac_index import RBACIndex
from kuberya.apiserver.rbac_rules import Attributes
from kuberya.apiserver.users import authenticated
from kuberya.server import certificates

BINDINGS = 1000
NAMESPACES = 100


def report_us(name: str, samples: list[float]) -> None:
    us = [s * 1e6 for s in samples]
    print(f"{name:<28} n={len(us):<6} p50={percentile(us, 0.5):6.1f} µs  p99={percentile(us, 0.99):6.1f} µs")


def binding(i: int) -> dict[str, object]:
    namespace = f"ns-{i % NAMESPACES}"
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": f"b-{i}", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": f"user-{i // NAMESPACES}"}],
    }


def in_process(n: int) -> None:
    index = RBACIndex()
    for role in rbac_bootstrap.cluster_roles():
        index.put("clusterroles", role)
    # edit as the aggregation controller would fill it (edit ⊇ view's parts).
    parts = [r for r in rbac_bootstrap.cluster_roles() if r["metadata"]["name"].startswith("system:aggregate-to-")]
    index.put("clusterroles", {"metadata": {"name": "edit"}, "rules": [rule for r in parts for rule in r["rules"]]})
    for b in rbac_bootstrap.cluster_role_bindings():
        index.put("clusterrolebindings", b)
    for i in range(BINDINGS):
        index.put("rolebindings", binding(i))
    bound, unbound = authenticated("user-3", ["dev"]), authenticated("nobody", ["dev"])
    admin = authenticated("kuberya-admin", ["system:masters"])
    request = make_mocked_request("GET", "/api/v1/namespaces/ns-7/pods?limit=500")
    cases = {
        "authorize bound (allowed)": (bound, True),
        "authorize unbound (denied)": (unbound, False),
        "authorize system:masters": (admin, True),
    }
    index.authorize(Attributes(bound, "list", True, namespace="ns-7", resource="pods"))  # the first check rebuilds
    for label, (user, expected) in cases.items():
        attrs = Attributes(user, "list", True, namespace="ns-7", resource="pods", api_version="v1")
        samples = []
        for _ in range(n * 50):
            start = time.perf_counter()
            allowed, _ = index.authorize(attrs)
            samples.append(time.perf_counter() - start)
        assert allowed is expected, label
        report_us(label, samples)
    samples = []
    for _ in range(n * 50):
        start = time.perf_counter()
        index.authorize(request_attributes(request, bound))
        samples.append(time.perf_counter() - start)
    report_us("attributes + authorize", samples)
    ok = percentile(samples, 0.99) * 1000 < 0.2
    print(f"goal p99 < 0.2 ms per request: {'met' if ok else 'NOT met'}")


def user_context(data_dir: Path, workdir: Path, user: str) -> ssl.SSLContext:
    pki = data_dir / "pki"
    ca = certificates.load_pair((pki / "ca.crt").read_bytes(), (pki / "ca.key").read_bytes())
    assert ca is not None
    cert, key = certificates.make_leaf(
        ca, common_name=user, usage="client", now=dt.datetime.now(dt.UTC), validity=dt.timedelta(hours=1)
    )
    (workdir / "user.crt").write_bytes(certificates.cert_pem(cert))
    (workdir / "user.key").write_bytes(certificates.key_pem(key))
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(workdir / "user.crt"), str(workdir / "user.key"))
    return ctx


async def over_http(url: str, admin_ctx: ssl.SSLContext, user_ctx: ssl.SSLContext, n: int) -> None:
    rbac = f"{url}/apis/rbac.authorization.k8s.io/v1"
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=admin_ctx)) as admin,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=user_ctx)) as user,
    ):
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}
        (await admin.post(f"{url}/api/v1/namespaces", json=ns)).raise_for_status()
        for i in range(NAMESPACES):
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{i}"}}
            (await admin.post(f"{url}/api/v1/namespaces", json=body)).raise_for_status()
        for i in range(BINDINGS):
            b = binding(i)
            ns_name = b["metadata"]["namespace"]  # type: ignore[index]
            (await admin.post(f"{rbac}/namespaces/{ns_name}/rolebindings", json=b)).raise_for_status()
        view = {**binding(0), "metadata": {"name": "bench-view", "namespace": "bench"}}
        view["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
        view["subjects"] = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bench-user"}]
        (await admin.post(f"{rbac}/namespaces/bench/rolebindings", json=view)).raise_for_status()
        for i in range(100):
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}, "data": {"k": "v"}}
            (await admin.post(f"{url}/api/v1/namespaces/bench/configmaps", json=cm)).raise_for_status()
        await asyncio.sleep(0.5)  # the index follows the store's watch
        listing = f"{url}/api/v1/namespaces/bench/configmaps"
        as_admin: list[float] = []
        as_user: list[float] = []
        for _ in range(n):
            for session, samples in ((admin, as_admin), (user, as_user)):
                start = time.perf_counter()
                async with session.get(listing) as response:
                    await response.read()
                    assert response.status == 200, response.status
                samples.append(time.perf_counter() - start)
        report("list 100 cm as admin", as_admin)
        report("list 100 cm as view user", as_user)
        ratio = percentile(as_user, 0.99) / percentile(as_admin, 0.99)
        print(f"p99 user/admin: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    print(f"-- in-process authorizer, {BINDINGS} RoleBindings")
    in_process(args.n)
    print(f"-- real server, {BINDINGS} RoleBindings, RBAC on")
    with bench_cluster(prefix="kuberya-authz-bench-") as bench:
        user_ctx = user_context(bench.cluster.data_dir, bench.tmp, "bench-user")
        asyncio.run(over_http(bench.url, bench.ssl, user_ctx, args.n))


if __name__ == "__main__":
    main()
