"""Images against a real registry (Debian ``docker-registry``), with skopeo as the independent client.

Each direction is checked by the other tool: skopeo pushes and kuberya pulls, kuberya pushes and
skopeo inspects and copies back; the digests must be identical byte for byte. Base images are made
offline from busybox-static (:mod:`kuberya.images.testing`). The CLI runs as a subprocess, as a
user runs it. Tests skip with the reason when docker-registry, skopeo or buildah are missing
(``scripts/setup`` installs them).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuberya.images.archive import Named, export_oci_layout
from kuberya.images.errors import ImageNotFoundError
from kuberya.images.oci import OCI_INDEX, Platform, canonical_json, host_platform
from kuberya.images.service import ImageService, ImageSettings, PullPolicy
from kuberya.images.store import ImageStore
from kuberya.images.testing import Registry, busybox_image, run_registry
from kuberya.images.transfer import RegistrySettings

pytestmark = [
    pytest.mark.skipif(not (shutil.which("docker-registry") and shutil.which("skopeo")),
                       reason="needs docker-registry and skopeo (apt-get install docker-registry skopeo)"),
]  # fmt: skip


def kuberya(*args: str, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERYA_", "XDG_", "DOCKER_CONFIG"))}
    env["HOME"] = str(data_dir.parent / "home")
    result = subprocess.run(
        [sys.executable, "-c", "from kuberya.cli.main import main; main()", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"kuberya {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def skopeo(*args: str) -> str:
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def remote_digest(registry: Registry, repo_tag: str) -> str:
    return str(json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/{repo_tag}"))["Digest"])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with run_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An OCI layout with a 3-layer busybox image tagged ``test``, and its manifest digest."""
    root = tmp_path_factory.mktemp("busybox")
    store = ImageStore(root / "store")
    image = busybox_image(store, "localhost/busybox:test")
    export_oci_layout(store, [Named(image, "localhost/busybox:test")], root / "layout")
    return root / "layout", image.digest


def test_skopeo_push_kuberya_pull(registry: Registry, busybox: tuple[Path, str], tmp_path: Path) -> None:
    layout, digest = busybox
    skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:test", f"docker://{registry.host}/bb:from-skopeo")
    assert remote_digest(registry, "bb:from-skopeo") == digest
    out = kuberya(
        "pull", f"{registry.host}/bb:from-skopeo", "--insecure-registry", registry.host, data_dir=tmp_path / "d"
    )
    assert digest in out.stdout
    listing = kuberya("images", "--digests", data_dir=tmp_path / "d").stdout
    assert f"{registry.host}/bb" in listing and digest in listing
    # Pulling again fetches nothing: every blob is already here.
    again = kuberya(
        "pull", f"{registry.host}/bb:from-skopeo", "--insecure-registry", registry.host, data_dir=tmp_path / "d"
    )
    assert "already here" in again.stderr and "pulled (" not in again.stderr
    # Without --insecure-registry the error says what to do.
    refused = kuberya("pull", f"{registry.host}/bb:from-skopeo", data_dir=tmp_path / "d", check=False)
    assert refused.returncode == 1 and "--insecure-registry" in refused.stderr


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_kuberya_push_skopeo_inspect_and_copy(
    registry: Registry, busybox: tuple[Path, str], tmp_path: Path, chunked: bool
) -> None:
    layout, digest = busybox
    data = tmp_path / "d"
    kuberya("load", "-i", str(layout), data_dir=data)
    repo = f"pushed-{'chunked' if chunked else 'mono'}"
    extra = ["--chunk-size", "100000"] if chunked else []
    out = kuberya("push", "localhost/busybox:test", f"{registry.host}/{repo}:v1", "--insecure-registry",
                  registry.host, *extra, data_dir=data)  # fmt: skip
    assert digest in out.stdout and "pushed" in out.stderr
    assert remote_digest(registry, f"{repo}:v1") == digest
    back = tmp_path / "back"
    skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/{repo}:v1", f"oci:{back}:v1")
    index = json.loads((back / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    # Pushing again uploads nothing.
    again = kuberya("push", f"{registry.host}/{repo}:v1", "--insecure-registry", registry.host, data_dir=data)
    assert again.stderr.count("exists") == 4


def test_cross_repository_mount(registry: Registry, busybox: tuple[Path, str], tmp_path: Path) -> None:
    layout, digest = busybox
    data = tmp_path / "d"
    skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:test", f"docker://{registry.host}/mount-src:v1")
    kuberya("pull", f"{registry.host}/mount-src:v1", "--insecure-registry", registry.host, data_dir=data)
    out = kuberya("push", f"{registry.host}/mount-src:v1", f"{registry.host}/mount-dst:v1", "--insecure-registry",
                  registry.host, data_dir=data)  # fmt: skip
    assert out.stderr.count("mounted from mount-src") == 4
    assert remote_digest(registry, "mount-dst:v1") == digest


def test_manifest_list_resolves_to_the_host_platform(registry: Registry, tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "src")
    host = host_platform()
    other: Platform = {"os": "linux", "architecture": "arm64" if host["architecture"] != "arm64" else "amd64"}
    images = {
        p["architecture"]: busybox_image(store, f"multi-{p['architecture']}:1", platform=p) for p in (host, other)
    }
    layout = tmp_path / "layout"
    export_oci_layout(store, [Named(i, n) for i in images.values() for n in i.names], layout)
    nested = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": i.media_type, "digest": i.digest, "size": len(store.read_blob(i.digest)),
         "platform": {"os": "linux", "architecture": arch}} for arch, i in images.items()]}  # fmt: skip
    nested_bytes = canonical_json(nested)
    nested_digest = store.put_bytes(nested_bytes)
    (layout / "blobs/sha256" / nested_digest[7:]).write_bytes(nested_bytes)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_INDEX, "digest": nested_digest, "size": len(nested_bytes),
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))  # fmt: skip
    skopeo("copy", "-q", "--all", "--dest-tls-verify=false", f"oci:{layout}:multi", f"docker://{registry.host}/multi:1")
    assert remote_digest(registry, "multi:1") == nested_digest

    data = tmp_path / "d"
    out = kuberya("pull", f"{registry.host}/multi:1", "--insecure-registry", registry.host, data_dir=data)
    assert images[host["architecture"]].digest in out.stdout
    arch = other["architecture"]
    out = kuberya("pull", f"{registry.host}/multi:1", "--platform", f"linux/{arch}", "--insecure-registry",
                  registry.host, data_dir=tmp_path / "d2")  # fmt: skip
    assert images[arch].digest in out.stdout
    missing = kuberya("pull", f"{registry.host}/multi:1", "--platform", "linux/s390x", "--insecure-registry",
                      registry.host, data_dir=tmp_path / "d3", check=False)  # fmt: skip
    assert missing.returncode == 1 and "linux/s390x" in missing.stderr


def test_load_docker_save_archive_and_save_round_trip(busybox: tuple[Path, str], tmp_path: Path) -> None:
    layout, _ = busybox
    archive = tmp_path / "saved.tar"
    skopeo("copy", "-q", f"oci:{layout}:test", f"docker-archive:{archive}:busybox:saved")  # a docker-save tarball
    data = tmp_path / "d"
    out = kuberya("load", "-i", str(archive), data_dir=data)
    assert "docker.io/library/busybox:saved" in out.stdout
    config = json.loads(skopeo("inspect", "--config", f"docker-archive:{archive}"))
    assert len(config["rootfs"]["diff_ids"]) == 3
    listing = kuberya("images", "--no-trunc", data_dir=data).stdout
    assert "busybox" in listing and "saved" in listing
    # And out again: `kuberya save` is read by skopeo both as docker-archive and as oci-archive.
    saved = tmp_path / "again.tar"
    kuberya("save", "busybox:saved", "-o", str(saved), data_dir=data)
    ids = {json.loads(skopeo("inspect", "--config", f"{kind}:{saved}"))["rootfs"]["diff_ids"][0]
           for kind in ("docker-archive", "oci-archive")}  # fmt: skip
    assert ids == {config["rootfs"]["diff_ids"][0]}


def test_resumes_a_partial_download(registry: Registry, busybox: tuple[Path, str], tmp_path: Path) -> None:
    layout, digest = busybox
    skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:test", f"docker://{registry.host}/resume:v1")
    manifest = json.loads((layout / "blobs/sha256" / digest[7:]).read_bytes())
    biggest = max(manifest["layers"], key=lambda d: d["size"])
    blob = (layout / "blobs/sha256" / biggest["digest"][7:]).read_bytes()
    store = ImageStore(tmp_path / "d" / "images")
    store.partial_path(biggest["digest"]).write_bytes(blob[: len(blob) // 2])
    kuberya("pull", f"{registry.host}/resume:v1", "--insecure-registry", registry.host, data_dir=tmp_path / "d")
    assert store.blob_path(biggest["digest"]).read_bytes() == blob
    assert not store.partial_path(biggest["digest"]).exists()


async def test_image_service_for_the_node_agent(registry: Registry, busybox: tuple[Path, str], tmp_path: Path) -> None:
    layout, digest = busybox
    skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:test", f"docker://{registry.host}/agent:v1")
    service = ImageService(ImageSettings(root=tmp_path / "images",
                                         registry=RegistrySettings(insecure=frozenset({registry.host}))))  # fmt: skip
    ref = f"{registry.host}/agent:v1"
    with pytest.raises(ImageNotFoundError, match="ErrImageNeverPull"):
        await service.ensure(ref, policy=PullPolicy.NEVER)
    pulled = await asyncio.gather(*(service.ensure(ref, policy=PullPolicy.IF_NOT_PRESENT) for _ in range(5)))
    assert {image.digest for image in pulled} == {digest}
    assert (await service.ensure(ref, policy=PullPolicy.NEVER)).digest == digest
    rootfs = await service.rootfs(ref)
    assert len(rootfs.layers) == 3
    assert (rootfs.layers[0].path / "bin/busybox").is_file()
    assert os.readlink(rootfs.layers[0].path / "bin/sh") == "busybox"
    assert rootfs.lower_dirs[0] == rootfs.layers[2].path
    assert rootfs.config["config"]["Cmd"] == ["/bin/sh"]
    busybox_binary, hello = rootfs.layers[0].path / "bin/busybox", rootfs.layers[2].path / "app/hello.txt"
    result = subprocess.run([str(busybox_binary), "cat", str(hello)], capture_output=True, text=True, check=True)
    assert result.stdout == "hello from kuberya\n"


# -- builds ------------------------------------------------------------------------------------------


def data_dir_with_busybox(busybox: tuple[Path, str], tmp_path: Path) -> Path:
    """A data dir whose store holds ``localhost/busybox:test`` (loaded from the OCI layout)."""
    layout, _ = busybox
    data = tmp_path / "d"
    kuberya("load", "-i", str(layout), data_dir=data)
    return data


def buildah_works() -> str:
    if not shutil.which("buildah"):
        return "buildah is not installed (apt-get install buildah)"
    return ""


@pytest.mark.skipif(bool(buildah_works()), reason=buildah_works() or "-")
def test_build_a_dockerfile_from_a_local_image(busybox: tuple[Path, str], tmp_path: Path) -> None:
    data = data_dir_with_busybox(busybox, tmp_path)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        'FROM localhost/busybox:test\nARG GREETING=hi\nRUN echo "$GREETING built" > /built.txt\n'
        'COPY page.html /www/index.html\nCMD ["cat", "/built.txt"]\n'
    )
    (context / "page.html").write_text("<h1>kuberya</h1>\n")
    out = kuberya("build", str(context), "-t", "demo:1", "--build-arg", "GREETING=hello", data_dir=data)
    assert "built docker.io/library/demo:1" in out.stdout
    service = ImageService(ImageSettings(root=data / "images"))
    image = service.get("demo:1")
    assert image.config["config"]["Cmd"] == ["cat", "/built.txt"]
    rootfs = asyncio.run(service.rootfs(image))
    assert len(rootfs.layers) >= 4  # the 3 base layers, then the build's own
    found = {
        p.name: p for layer in rootfs.layers for p in layer.path.rglob("*") if p.name in ("built.txt", "index.html")
    }
    assert found["built.txt"].read_text() == "hello built\n"
    assert found["index.html"].read_text() == "<h1>kuberya</h1>\n"
    assert rootfs.layers[0].diff_id == service.get("localhost/busybox:test").diff_ids[0]


@pytest.mark.skipif(bool(buildah_works()), reason=buildah_works() or "-")
def test_build_in_a_data_dir_whose_path_is_no_image_name(busybox: tuple[Path, str], tmp_path: Path) -> None:
    """buildah names a pulled layout after its path; a home like /home/John_Doe_ must not break builds."""
    layout, _ = busybox
    data = tmp_path / "John_Doe_" / "kuberya"
    kuberya("load", "-i", str(layout), data_dir=data)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM localhost/busybox:test\nRUN echo ok > /ok.txt\n")
    out = kuberya("build", str(context), "-t", "odd:1", data_dir=data)
    assert "built docker.io/library/odd:1" in out.stdout
    assert not [p for p in Path("/tmp").glob("kuberya-base-*") if p.is_symlink()]  # the one it went through is gone


@pytest.mark.skipif(bool(buildah_works()), reason=buildah_works() or "-")
def test_build_a_detected_static_site(busybox: tuple[Path, str], tmp_path: Path) -> None:
    data = data_dir_with_busybox(busybox, tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>static</p>\n")
    printed = kuberya("build", str(site), "--print", "--base", "localhost/busybox:test", data_dir=data).stdout
    assert "FROM localhost/busybox:test" in printed and "httpd" in printed
    kuberya("build", str(site), "-t", "site:1", "--base", "localhost/busybox:test", data_dir=data)
    image = ImageService(ImageSettings(root=data / "images")).get("site:1")
    assert "httpd" in " ".join(image.config["config"]["Cmd"] or [])


def test_build_without_buildah_says_how_to_install(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    result = subprocess.run(
        [sys.executable, "-c", "from kuberya.cli.main import main; main()", "build", str(context), "-t", "x:1",
         "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "apt-get install buildah" in result.stderr


@pytest.mark.skipif(bool(buildah_works()), reason=buildah_works() or "-")
async def test_cancelling_a_build_stops_buildah(busybox: tuple[Path, str], tmp_path: Path) -> None:
    """The server awaits builds (the demo does): a cancelled build must end buildah, not leave it running."""
    data = data_dir_with_busybox(busybox, tmp_path)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM localhost/busybox:test\nRUN echo sleeping && sleep 60\n")
    from kuberya.images.build import BuildRequest

    service = ImageService(ImageSettings(root=data / "images"))
    sleeping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def log(line: str) -> None:  # called on the build's thread
        if line.strip() == "sleeping":
            loop.call_soon_threadsafe(sleeping.set)

    task = asyncio.create_task(service.build(BuildRequest(context=context, tags=("slow:1",), layers=False), log=log))
    async with asyncio.timeout(60):
        await sleeping.wait()
    cancelled_at = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop.time() - cancelled_at < 15  # buildah stopped, not the 60 s RUN step finishing
    leftover = subprocess.run(["pgrep", "-f", str(data / "images" / "buildah")], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
    assert service.find("slow:1") is None
