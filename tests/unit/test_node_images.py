"""Images before containers, on the fake runtime with a fake image source and the fake clock.

Pull policies, pull secrets, the events and waiting reasons of pulls (``ErrImagePull`` →
``ImagePullBackOff`` on CrashLoopBackOff's timing, ``ErrImageNeverPull``, ``InvalidImageName``),
``imageID`` as ``repository@digest`` (kept across an agent restart), and termination messages
read from the file mounted at ``terminationMessagePath``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kuberya.client.fake import FakeApiClient
from kuberya.client.resources import SECRETS
from kuberya.images.auth import Credentials
from kuberya.images.errors import ImageError, ManifestUnknownError, UnauthorizedError
from kuberya.images.reference import parse_reference
from kuberya.images.service import ImageService, ImageSettings, PullPolicy
from kuberya.node.pulling import StoreImages, pull_policy
from kuberya.runtime.crilog import format_cri_line
from kuberya.runtime.fake import FakeRuntime
from tests.unit.test_node_support import pod, running

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


@dataclass(frozen=True)
class FakeImage:
    digest: str
    size: int = 1234


@dataclass
class FakeImages:
    """The store (``present``) and a registry (``remote``), by normalised name."""

    present: dict[str, FakeImage] = field(default_factory=dict)
    remote: dict[str, FakeImage] = field(default_factory=dict)
    pulls: list[tuple[str, PullPolicy, Mapping[str, Credentials] | None]] = field(default_factory=list)
    requires: dict[str, Credentials] = field(default_factory=dict)
    """Registry host → the credentials it insists on."""

    def find(self, ref: str) -> FakeImage | None:
        return self.present.get(parse_reference(ref).name)

    async def ensure(self, ref: str, *, policy: PullPolicy, auth: Mapping[str, Credentials] | None = None) -> FakeImage:
        self.pulls.append((ref, policy, auth))
        parsed = parse_reference(ref)
        wanted = self.requires.get(parsed.domain)
        if wanted is not None and (auth or {}).get(parsed.domain) != wanted:
            raise UnauthorizedError(f"registry {parsed.domain} answered 401: authentication required", status=401)
        image = self.remote.get(parsed.name)
        if image is None:
            raise ManifestUnknownError(f"{parsed.familiar}: manifest unknown - does the image exist?", status=404)
        self.present[parsed.name] = image
        return image


def app(image: str, **extra: object) -> list[dict[str, object]]:
    return [{"name": "app", "image": image, **extra}]


def with_policy(image: str, policy: str, **extra: object) -> dict[str, object]:
    return pod(containers=app(image, imagePullPolicy=policy, **extra))


def create_config(h: object) -> object:
    runtime: FakeRuntime = h.runtime  # type: ignore[attr-defined]
    return next(c for c in runtime.calls if c.method == "create_container").args[1]


def test_pull_policy_defaults_like_the_api_server() -> None:
    assert pull_policy({"image": "busybox"}) is PullPolicy.ALWAYS
    assert pull_policy({"image": "busybox:latest"}) is PullPolicy.ALWAYS
    assert pull_policy({"image": "busybox:1.36"}) is PullPolicy.IF_NOT_PRESENT
    assert pull_policy({"image": "busybox:1.36", "imagePullPolicy": "Never"}) is PullPolicy.NEVER


async def test_present_image_is_not_pulled_and_gives_the_image_id(tmp_path: Path) -> None:
    images = FakeImages(present={"docker.io/library/busybox:1.36": FakeImage(DIGEST)})
    async with running(tmp_path, images=images) as h:
        h.add_pod(with_policy("busybox:1.36", "IfNotPresent"))
        await h.settle()
        cs = h.container()
        assert "running" in cs["state"]
        assert cs["imageID"] == f"docker.io/library/busybox@{DIGEST}"
        assert images.pulls == []
        assert h.events()[0] == ("Normal", "Pulled", 'Container image "busybox:1.36" already present on machine')
        config = create_config(h)
        mount = config.mounts[-1]  # type: ignore[attr-defined]
        assert mount.container_path == "/dev/termination-log" and mount.host_path.is_file()


async def test_always_pulls_with_events(tmp_path: Path) -> None:
    images = FakeImages(
        present={"docker.io/library/busybox:1.36": FakeImage(OTHER)},
        remote={"docker.io/library/busybox:1.36": FakeImage(DIGEST, size=2155)},
    )
    async with running(tmp_path, images=images) as h:
        h.add_pod(with_policy("busybox:1.36", "Always"))
        await h.settle()
        assert [p[:2] for p in images.pulls] == [("busybox:1.36", PullPolicy.ALWAYS)]
        events = h.events()
        assert events[0] == ("Normal", "Pulling", 'Pulling image "busybox:1.36"')
        assert events[1][:2] == ("Normal", "Pulled")
        assert events[1][2].startswith('Successfully pulled image "busybox:1.36" in ')
        assert events[1][2].endswith("Image size: 2155 bytes.")
        assert h.reasons()[2:] == ["Created", "Started"]
        assert h.container()["imageID"] == f"docker.io/library/busybox@{DIGEST}"


async def test_never_and_missing_waits_in_err_image_never_pull_until_loaded(tmp_path: Path) -> None:
    images = FakeImages()
    async with running(tmp_path, images=images, backoff_base=10, backoff_cap=40) as h:
        h.add_pod(with_policy("app:v1", "Never"))
        await h.settle()
        message = 'Container image "app:v1" is not present with pull policy of Never'
        assert h.container()["state"] == {"waiting": {"reason": "ErrImageNeverPull", "message": message}}
        assert ("Warning", "ErrImageNeverPull", message) in h.events()
        assert h.status()["phase"] == "Pending" and images.pulls == []
        images.present["docker.io/library/app:v1"] = FakeImage(DIGEST)  # `kuberya load`
        await h.advance(10)
        assert "running" in h.container()["state"] and images.pulls == []


async def test_failed_pull_backs_off_like_crash_loop(tmp_path: Path) -> None:
    images = FakeImages()
    async with running(tmp_path, images=images, backoff_base=10, backoff_cap=40) as h:
        h.add_pod(with_policy("127.0.0.1:5000/app:v1", "IfNotPresent"))
        await h.settle()
        failure = "127.0.0.1:5000/app:v1: manifest unknown - does the image exist?"
        pulled = 'Failed to pull image "127.0.0.1:5000/app:v1": ' + failure
        assert h.container()["state"] == {"waiting": {"reason": "ErrImagePull", "message": pulled}}
        assert ("Warning", "Failed", pulled) in h.events()
        assert ("Warning", "Failed", "Error: ErrImagePull") in h.events()
        await h.advance(1)
        back_off = 'Back-off pulling image "127.0.0.1:5000/app:v1"'
        assert h.container()["state"] == {
            "waiting": {"reason": "ImagePullBackOff", "message": f"{back_off}: ErrImagePull: {failure}"}
        }
        assert ("Normal", "BackOff", back_off) in h.events()
        assert ("Warning", "Failed", "Error: ImagePullBackOff") in h.events()
        assert h.status()["phase"] == "Pending"
        for delay in (10, 20, 40, 40):
            pulls = len(images.pulls)
            await h.advance(delay - 1.5)
            assert len(images.pulls) == pulls, f"pulled again before {delay}s"
            await h.advance(0.5)
            assert len(images.pulls) == pulls + 1
            assert h.container()["state"]["waiting"]["reason"] == "ErrImagePull"
            await h.advance(1)
            assert h.container()["state"]["waiting"]["reason"] == "ImagePullBackOff"
        images.remote["127.0.0.1:5000/app:v1"] = FakeImage(DIGEST)
        await h.advance(40, step=5)
        cs = h.container()
        assert "running" in cs["state"] and cs["restartCount"] == 0
        assert cs["imageID"] == f"127.0.0.1:5000/app@{DIGEST}"


async def test_a_restart_whose_pull_fails_keeps_the_last_termination(tmp_path: Path) -> None:
    images = FakeImages(remote={"docker.io/library/app:v1": FakeImage(DIGEST)})
    async with running(tmp_path, images=images, backoff_base=10, backoff_cap=40) as h:
        h.add_pod(with_policy("app:v1", "Always"))
        await h.settle()
        del images.remote["docker.io/library/app:v1"]
        h.runtime.exit_container(h.running_id(), 3)
        await h.settle()
        cs = h.container()
        assert cs["state"]["waiting"]["reason"] == "ErrImagePull"
        assert cs["lastState"]["terminated"]["exitCode"] == 3 and cs["restartCount"] == 0
        images.remote["docker.io/library/app:v1"] = FakeImage(DIGEST)
        await h.advance(10)
        cs = h.container()
        assert "running" in cs["state"] and cs["restartCount"] == 1


async def test_invalid_image_name(tmp_path: Path) -> None:
    async with running(tmp_path, images=FakeImages()) as h:
        h.add_pod(with_policy("Not A//Name", "IfNotPresent"))
        await h.settle()
        waiting = h.container()["state"]["waiting"]
        assert waiting["reason"] == "InvalidImageName" and "invalid reference format" in waiting["message"]
        assert "InspectFailed" in h.reasons()


def docker_config(host: str, user: str, password: str, *, legacy: bool = False) -> str:
    entry = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    doc = {host: entry} if legacy else {"auths": {host: entry}}
    return base64.b64encode(json.dumps(doc).encode()).decode()


@pytest.mark.parametrize("legacy", [False, True], ids=["dockerconfigjson", "dockercfg"])
async def test_pull_secrets_give_credentials(tmp_path: Path, legacy: bool) -> None:
    client = FakeApiClient(watch_events=True)
    kind = "kubernetes.io/dockercfg" if legacy else "kubernetes.io/dockerconfigjson"
    key = ".dockercfg" if legacy else ".dockerconfigjson"
    client.add(
        SECRETS,
        {
            "metadata": {"name": "regcred", "namespace": "default"},
            "type": kind,
            "data": {key: docker_config("http://127.0.0.1:5000", "kuberya", "s3cret", legacy=legacy)},
        },
    )
    wanted = Credentials(username="kuberya", password="s3cret")
    images = FakeImages(remote={"127.0.0.1:5000/private:v1": FakeImage(DIGEST)}, requires={"127.0.0.1:5000": wanted})
    async with running(tmp_path, images=images, client=client) as h:
        body = with_policy("127.0.0.1:5000/private:v1", "IfNotPresent")
        body["spec"]["imagePullSecrets"] = [{"name": "missing"}, {"name": "regcred"}]  # type: ignore[index]
        h.add_pod(body)
        await h.settle()
        assert "running" in h.container()["state"]
        assert images.pulls[0][2] == {"127.0.0.1:5000": wanted}
        assert (
            "Warning",
            "FailedToRetrieveImagePullSecret",
            "Unable to retrieve some image pull secrets (missing); attempting to pull the image may not succeed.",
        ) in h.events()


async def test_without_the_secret_the_pull_is_unauthorized(tmp_path: Path) -> None:
    images = FakeImages(
        remote={"127.0.0.1:5000/private:v1": FakeImage(DIGEST)},
        requires={"127.0.0.1:5000": Credentials(username="u", password="p")},
    )
    async with running(tmp_path, images=images) as h:
        h.add_pod(with_policy("127.0.0.1:5000/private:v1", "IfNotPresent"))
        await h.settle()
        waiting = h.container()["state"]["waiting"]
        assert waiting["reason"] == "ErrImagePull" and "401" in waiting["message"]


async def test_termination_message_from_the_mounted_file(tmp_path: Path) -> None:
    images = FakeImages(present={"docker.io/library/app:v1": FakeImage(DIGEST)})
    async with running(tmp_path, images=images) as h:
        h.add_pod(with_policy("app:v1", "IfNotPresent", terminationMessagePath="/tmp/why"))
        await h.settle()
        mount = create_config(h).mounts[-1]  # type: ignore[attr-defined]
        assert mount.container_path == "/tmp/why"
        mount.host_path.write_text("x" * 5000)  # what the container wrote; upstream keeps 4096 bytes
        h.runtime.exit_container(h.running_id(), 2)
        await h.settle()
        last = h.container()["lastState"]["terminated"]
        assert last["exitCode"] == 2 and last["message"] == "x" * 4096
        assert "running" in h.container()["state"]
        for _ in range(3):  # only the current and the previous instance keep their files
            h.runtime.exit_container(h.running_id(), 2)
            await h.settle()
            await h.advance(40, step=10)
        files = sorted(p.name for p in mount.host_path.parent.iterdir())
        assert files == ["3.termination-log", "4.termination-log"]


async def test_fallback_to_logs_on_error(tmp_path: Path) -> None:
    images = FakeImages(present={"docker.io/library/app:v1": FakeImage(DIGEST)})
    async with running(tmp_path, images=images) as h:
        body = with_policy("app:v1", "IfNotPresent", terminationMessagePolicy="FallbackToLogsOnError")
        body["spec"]["restartPolicy"] = "Never"  # type: ignore[index]
        h.add_pod(body)
        await h.settle()
        cid = h.running_id()
        for n in range(100):
            h.runtime.write_log(cid, f"line {n}")
        h.runtime.exit_container(cid, 1)
        await h.settle()
        message = h.container()["state"]["terminated"]["message"]
        assert message.endswith("line 99\n") and "line 19\n" not in message and len(message) <= 2048


def test_fallback_joins_partial_log_records(tmp_path: Path) -> None:
    from kuberya.node.termination import termination_message

    log = tmp_path / "0.log"
    log.write_bytes(format_cri_line(0, "stderr", True, b"boom ") + format_cri_line(0, "stderr", False, b"happened"))
    spec = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    assert termination_message(spec, path=None, exit_code=1, log_path=log) == "boom happened\n"
    assert termination_message(spec, path=None, exit_code=0, log_path=log) == ""
    assert termination_message({}, path=None, exit_code=1, log_path=log) == ""


async def test_image_id_survives_an_agent_restart(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    client = FakeApiClient(watch_events=True)
    images = FakeImages(present={"docker.io/library/app:v1": FakeImage(DIGEST)})
    async with running(tmp_path, runtime=runtime, client=client, images=images) as h:
        h.add_pod(with_policy("app:v1", "IfNotPresent"))
        await h.settle()
        first = h.container()
    client._watches.clear()
    runtime.calls.clear()
    async with running(tmp_path, runtime=runtime, client=client, images=FakeImages()) as h2:
        await h2.settle()
        assert [c for c in runtime.calls if c.method == "create_container"] == []
        cs = h2.container()
        assert cs["imageID"] == first["imageID"] == f"docker.io/library/app@{DIGEST}"
        assert cs["containerID"] == first["containerID"] and cs["restartCount"] == 0


async def test_the_process_runtime_pulls_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, runtime=FakeRuntime(name="process")) as h:
        h.add_pod(pod())
        await h.settle()
        assert h.reasons() == ["Pulled", "Created", "Started"]
        assert all(m.container_path != "/dev/termination-log" for m in create_config(h).mounts)  # type: ignore[attr-defined]


async def test_store_images_reach_loopback_registries_over_http(tmp_path: Path) -> None:
    service = ImageService(ImageSettings(root=tmp_path / "images"))
    images = StoreImages(service)
    for ref in ("127.0.0.1:1/app:v1", "localhost:1/app:v1", "[::1]:1/app:v1", "registry.example:1/app:v1"):
        with pytest.raises(ImageError):
            await images.ensure(ref, policy=PullPolicy.NEVER)
    # Never fails before any network; the loopback hosts were allowed plain http, the other not
    assert service.settings.registry.insecure == {"127.0.0.1:1", "localhost:1", "[::1]:1"}
