"""The node agent over FakeApiClient + FakeRuntime: pod lifecycle, status, events, deletion, adoption."""

from __future__ import annotations

from pathlib import Path

from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import CONFIGMAPS, PODS
from kuberya.runtime.fake import FakeRuntime
from tests.unit.test_node_support import HOST_IP, pod, running


async def test_pod_becomes_running_and_ready(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.add_pod(pod())
        await h.settle()
        st = h.status()
        assert st["phase"] == "Running"
        assert st["qosClass"] == "BestEffort"
        assert st["hostIP"] == HOST_IP and st["hostIPs"] == [{"ip": HOST_IP}]
        assert st["podIP"].startswith("10.88.") and st["podIPs"] == [{"ip": st["podIP"]}]
        assert st["startTime"]
        cs = h.container()
        assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
        assert cs["image"] == "python:3" and cs["imageID"] == "fake://python:3"
        assert cs["containerID"].startswith("fake://container-")
        assert "running" in cs["state"] and cs["lastState"] == {}
        for ctype in ("Initialized", "Ready", "ContainersReady", "PodScheduled", "PodReadyToStartContainers"):
            assert h.condition(ctype)["status"] == "True", ctype
        assert h.reasons() == ["Pulled", "Created", "Started"]
        assert h.events()[0][2] == 'Container image "python:3" already present on machine'
        # the runtime got the pod's hostname, labels and the argv
        sandbox_call = next(c for c in h.runtime.calls if c.method == "run_pod_sandbox")
        assert sandbox_call.args[0].hostname == "web"
        assert sandbox_call.args[0].dns_searches[0] == "default.svc.cluster.local"
        create = next(c for c in h.runtime.calls if c.method == "create_container")
        config = create.args[1]
        assert config.command == ("python3", "-m", "http.server")
        assert config.labels["io.kubernetes.container.name"] == "app"
        assert config.labels["io.kubernetes.container.restartCount"] == "0"
        uid = h.get_pod()["metadata"]["uid"]
        assert config.log_path == tmp_path / "pods" / f"default_web_{uid}" / "app" / "0.log"
        ref = h.agent.registry.lookup("default", "web", "app")
        assert ref is not None and ref.running and ref.log_path == config.log_path


async def test_status_is_written_only_when_it_changes(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.add_pod(pod())
        await h.settle()
        writes = [a for a in h.client.mutations() if a.subresource == "status"]
        ready_time = h.condition("Ready")["lastTransitionTime"]
        h.agent.workers.wake(h.get_pod()["metadata"]["uid"])
        await h.advance(5)
        assert [a for a in h.client.mutations() if a.subresource == "status"] == writes
        assert h.condition("Ready")["lastTransitionTime"] == ready_time
        assert all(a.options["patch_type"] == "merge" for a in writes)


async def test_no_command_on_the_process_runtime_is_a_config_error(tmp_path: Path) -> None:
    async with running(tmp_path, runtime=FakeRuntime(name="process")) as h:
        h.add_pod(pod(containers=[{"name": "app", "image": "nginx"}]))
        await h.settle()
        cs = h.container()
        assert cs["state"] == {
            "waiting": {
                "reason": "CreateContainerConfigError",
                "message": "process runtime needs a command: set spec.containers[].command",
            }
        }
        assert h.status()["phase"] == "Pending"


async def test_missing_configmap_then_it_appears(tmp_path: Path) -> None:
    spec = {
        "name": "app",
        "image": "python:3",
        "command": ["run"],
        "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "mode"}}}],
    }
    async with running(tmp_path) as h:
        h.add_pod(pod(containers=[spec]))
        await h.settle()
        assert h.container()["state"]["waiting"] == {
            "reason": "CreateContainerConfigError",
            "message": 'configmap "conf" not found',
        }
        assert ("Warning", "Failed", 'Error: configmap "conf" not found') in h.events()
        h.client.add(CONFIGMAPS, {"metadata": {"name": "conf", "namespace": "default"}, "data": {"other": "x"}})
        await h.settle()
        assert h.container()["state"]["waiting"]["message"] == "couldn't find key mode in ConfigMap default/conf"
        h.client.add(CONFIGMAPS, {"metadata": {"name": "conf", "namespace": "default"}, "data": {"mode": "fast"}})
        await h.settle()
        assert "running" in h.container()["state"]
        config = next(c for c in h.runtime.calls if c.method == "create_container").args[1]
        assert ("MODE", "fast") in config.env


async def test_init_containers_run_in_order_before_the_app(tmp_path: Path) -> None:
    inits = [
        {"name": "first", "image": "busybox", "command": ["a"]},
        {"name": "second", "image": "busybox", "command": ["b"]},
    ]
    async with running(tmp_path) as h:
        h.add_pod(pod(initContainers=inits))
        await h.settle()
        st = h.status()
        assert st["phase"] == "Pending"
        assert h.condition("Initialized")["reason"] == "ContainersNotInitialized"
        assert h.container("app")["state"] == {"waiting": {"reason": "PodInitializing"}}
        assert "running" in h.container("first")["state"]
        assert h.container("second")["state"] == {"waiting": {"reason": "ContainerCreating"}}
        h.runtime.exit_container(h.running_id("first"), 0)
        await h.settle()
        assert h.container("first")["state"]["terminated"]["reason"] == "Completed"
        assert "running" in h.container("second")["state"]
        h.runtime.exit_container(h.running_id("second"), 0)
        await h.settle()
        assert h.status()["phase"] == "Running"
        assert h.condition("Initialized")["status"] == "True"
        assert "running" in h.container("app")["state"]
        names = [c.args[1].name for c in h.runtime.calls if c.method == "create_container"]
        assert names == ["first", "second", "app"]


async def test_failed_init_container_is_retried_with_backoff(tmp_path: Path) -> None:
    async with running(tmp_path, backoff_base=10) as h:
        h.add_pod(pod(initContainers=[{"name": "init", "image": "busybox", "command": ["a"]}]))
        await h.settle()
        h.runtime.exit_container(h.running_id("init"), 1)
        await h.settle()
        assert h.container("init")["restartCount"] == 1  # first restart is immediate
        h.runtime.exit_container(h.running_id("init"), 1)
        await h.settle()
        assert h.container("init")["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert h.status()["phase"] == "Pending"


async def test_init_failure_under_never_fails_the_pod(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.add_pod(pod(restartPolicy="Never", initContainers=[{"name": "init", "image": "b", "command": ["a"]}]))
        await h.settle()
        h.runtime.exit_container(h.running_id("init"), 2)
        await h.settle()
        assert h.status()["phase"] == "Failed"
        assert not [c for c in h.runtime.calls if c.method == "create_container" and c.args[1].name == "app"]


async def test_graceful_deletion_stops_then_deletes_with_grace_zero(tmp_path: Path) -> None:
    lifecycle = {"preStop": {"exec": {"command": ["drain"]}}}
    containers = [{"name": "app", "image": "python:3", "command": ["serve"], "lifecycle": lifecycle}]
    async with running(tmp_path) as h:
        h.add_pod(pod(containers=containers))
        await h.settle()
        cid = h.running_id()
        sandbox = h.runtime.calls[[c.method for c in h.runtime.calls].index("run_pod_sandbox")]
        h.runtime.calls.clear()
        h.client.clear()
        body = h.get_pod()
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:07Z"
        body["metadata"]["deletionGracePeriodSeconds"] = 7
        h.client.add(PODS, body)
        await h.settle()
        # What changes the pod, in order; reads (status, and the metrics publisher's) may interleave anywhere.
        reads = ("container_status", "list_pod_sandboxes", "list_containers", "sandbox_usage", "container_usage")
        methods = [(c.method, c.args[:1]) for c in h.runtime.calls if c.method not in reads]
        assert methods[:2] == [("exec_sync", (cid,)), ("stop_container", (cid,))]
        stop = next(c for c in h.runtime.calls if c.method == "stop_container")
        assert stop.args[1] <= 7 and stop.args[2] == 15
        assert [m for m, _ in methods[2:]] == ["stop_pod_sandbox", "remove_pod_sandbox"]
        delete = [a for a in h.client.mutations() if a.verb == "delete"]
        assert len(delete) == 1 and delete[0].body["gracePeriodSeconds"] == 0
        assert delete[0].body["preconditions"]["uid"] == body["metadata"]["uid"]
        assert h.client.stored(PODS, "web", namespace="default") is None
        assert ("Normal", "Killing", "Stopping container app") in h.events()
        assert sandbox is not None
        assert h.agent.registry.lookup("default", "web", "app") is None
        assert not h.agent.workers.workers
        assert not (tmp_path / "pods" / body["metadata"]["uid"]).exists()


async def test_pods_of_other_nodes_and_finished_pods(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.add_pod(pod(restartPolicy="Never"))
        await h.settle()
        h.runtime.exit_container(h.running_id(), 0)
        await h.settle()
        assert h.status()["phase"] == "Succeeded"
        assert h.condition("Ready")["reason"] == "PodCompleted"
        creates = [c for c in h.runtime.calls if c.method == "create_container"]
        await h.advance(60, step=10)
        assert [c for c in h.runtime.calls if c.method == "create_container"] == creates


async def test_readoption_keeps_running_containers(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    client = FakeApiClient(watch_events=True)
    async with running(tmp_path, runtime=runtime, client=client) as h:
        h.add_pod(pod())
        h.add_pod(pod("doomed"))
        await h.settle()
        cid = h.running_id()
        h.runtime.exit_container(cid, 1)  # one restart, so there is a previous instance
        await h.settle()
        cid = h.running_id()
        assert h.container()["restartCount"] == 1
    # the agent is gone, its containers still run; meanwhile "doomed" is deleted from the API
    assert len(runtime.container_ids()) == 3
    doomed_uid = client.stored(PODS, "doomed", namespace="default")["metadata"]["uid"]  # type: ignore[index]
    await client.delete(PODS, "doomed", namespace="default")
    client._watches.clear()  # the next agent starts from a fresh list
    runtime.calls.clear()
    async with running(tmp_path, runtime=runtime, client=client) as h2:
        await h2.settle()
        assert [c for c in runtime.calls if c.method in ("create_container", "start_container", "stop_container")] == []
        removed = [c.args[0] for c in runtime.calls if c.method == "remove_pod_sandbox"]
        assert len(removed) == 1
        assert all(s.pod_uid != doomed_uid for s in await runtime.list_pod_sandboxes())
        cs = h2.container()
        assert cs["containerID"] == f"fake://{cid}" and cs["restartCount"] == 1 and cs["ready"] is True
        assert cs["lastState"]["terminated"]["exitCode"] == 1
        ref = h2.agent.registry.lookup("default", "web", "app")
        prev = h2.agent.registry.lookup("default", "web", "app", previous=True)
        assert ref is not None and ref.container_id == cid and ref.running
        assert prev is not None and prev.container_id != cid
        # still managed: an exit is noticed and restarted (back-off was reset by the restart)
        runtime.exit_container(cid, 1)
        await h2.settle()
        assert h2.container()["restartCount"] == 2


async def test_a_host_network_pod_whose_port_is_taken_waits_with_a_clear_error(tmp_path: Path) -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        async with running(tmp_path) as h:
            spec = {"name": "app", "image": "python:3", "command": ["run"], "ports": [{"containerPort": port}]}
            h.add_pod(pod(containers=[spec], hostNetwork=True))
            await h.settle()
            waiting = h.container()["state"]["waiting"]
            assert waiting["reason"] == "CreateContainerError"
            assert f"port {port} is already in use on the host" in waiting["message"]
            assert "Failed" in h.reasons()
            holder.close()
            await h.advance(6)
            assert "running" in h.container()["state"]
    finally:
        holder.close()
