"""Layer unpacking: hostile archives are refused or contained; whiteouts, links and modes are right."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from kuberya.images.errors import UnsafeLayerError
from kuberya.images.layers import LayerDir, flatten_layers, unpack_layer, zstd_support


def entry(name: str, *, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "", mode: int = 0o644,
          uid: int = 0, gid: int = 0, major: int = 0, minor: int = 0) -> tuple[tarfile.TarInfo, bytes]:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.uid, info.gid = kind, link, mode, uid, gid
    info.devmajor, info.devminor, info.mtime = major, minor, 1_600_000_000
    if kind == tarfile.REGTYPE:
        info.size = len(data)
    return info, data


def make_tar(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return buffer.getvalue()


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(layer dir, an 'outside' dir next to it that must never be touched)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("original")
    dest = tmp_path / "layer"
    dest.mkdir()
    return dest, outside


def unpack(tmp_path: Path, tar: bytes, dest: Path, **kw: bool) -> object:
    blob = tmp_path / f"blob-{hashlib.sha256(tar).hexdigest()[:8]}"
    blob.write_bytes(tar)
    return unpack_layer(blob, dest, **kw)


def assert_outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "original"


@pytest.mark.parametrize("name", ["../outside/secret", "a/../../outside/secret", "./../outside/x", "a/b/../../../x"])
def test_dotdot_paths_are_refused(tmp_path: Path, sandbox: tuple[Path, Path], name: str) -> None:
    dest, outside = sandbox
    with pytest.raises(UnsafeLayerError, match="outside"):
        unpack(tmp_path, make_tar(entry(name, data=b"pwned")), dest)
    assert_outside_untouched(outside)


def test_absolute_paths_are_relative_to_the_layer(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, outside = sandbox
    unpack(tmp_path, make_tar(entry(str(outside / "secret"), data=b"contained")), dest)
    assert_outside_untouched(outside)
    assert (dest / str(outside).lstrip("/") / "secret").read_bytes() == b"contained"


@pytest.mark.parametrize("target", ["ABS", "../outside", "../../outside", "."])
def test_writing_through_a_symlink_is_refused(tmp_path: Path, sandbox: tuple[Path, Path], target: str) -> None:
    dest, outside = sandbox
    link = str(outside) if target == "ABS" else target
    tar = make_tar(entry("evil", kind=tarfile.SYMTYPE, link=link), entry("evil/secret", data=b"pwned"))
    with pytest.raises(UnsafeLayerError, match="symlink"):
        unpack(tmp_path, tar, dest)
    assert_outside_untouched(outside)


def test_a_file_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, outside = sandbox
    tar = make_tar(entry("evil", kind=tarfile.SYMTYPE, link=str(outside / "secret")), entry("evil", data=b"mine"))
    unpack(tmp_path, tar, dest)
    assert_outside_untouched(outside)
    assert not (dest / "evil").is_symlink()
    assert (dest / "evil").read_bytes() == b"mine"


def test_absolute_symlinks_are_stored_not_followed(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, _ = sandbox
    unpack(tmp_path, make_tar(entry("bin/sh", kind=tarfile.SYMTYPE, link="/bin/busybox")), dest)
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"


@pytest.mark.parametrize("link", ["../outside/secret", "../../etc/passwd"])
def test_hardlinks_outside_are_refused(tmp_path: Path, sandbox: tuple[Path, Path], link: str) -> None:
    dest, outside = sandbox
    with pytest.raises(UnsafeLayerError):
        unpack(tmp_path, make_tar(entry("stolen", kind=tarfile.LNKTYPE, link=link)), dest)
    assert_outside_untouched(outside)
    assert not (dest / "stolen").exists()


def test_absolute_hardlink_means_inside_the_layer(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, outside = sandbox
    with pytest.raises(UnsafeLayerError, match="not in this layer"):
        unpack(tmp_path, make_tar(entry("stolen", kind=tarfile.LNKTYPE, link=str(outside / "secret"))), dest)
    assert_outside_untouched(outside)


def test_hardlink_through_a_symlink_is_refused(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, outside = sandbox
    tar = make_tar(entry("out", kind=tarfile.SYMTYPE, link=str(outside)),
                   entry("stolen", kind=tarfile.LNKTYPE, link="out/secret"))  # fmt: skip
    with pytest.raises(UnsafeLayerError):
        unpack(tmp_path, tar, dest)
    assert_outside_untouched(outside)


def test_hardlink_to_a_symlink_links_the_symlink(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, outside = sandbox
    tar = make_tar(entry("ln", kind=tarfile.SYMTYPE, link=str(outside / "secret")),
                   entry("ln2", kind=tarfile.LNKTYPE, link="ln"), entry("ln2", data=b"x"))  # fmt: skip
    unpack(tmp_path, tar, dest)
    assert_outside_untouched(outside)


def test_regular_hardlinks_share_an_inode(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, _ = sandbox
    tar = make_tar(entry("bin/a", data=b"busybox", mode=0o755), entry("bin/b", kind=tarfile.LNKTYPE, link="bin/a"))
    unpack(tmp_path, tar, dest)
    assert (dest / "bin/a").stat().st_ino == (dest / "bin/b").stat().st_ino
    assert (dest / "bin/b").read_bytes() == b"busybox"


def test_modes_times_and_read_only_dirs(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, _ = sandbox
    tar = make_tar(entry("ro", kind=tarfile.DIRTYPE, mode=0o555), entry("ro/file", data=b"x", mode=0o4755),
                   entry("ro/sub/deep", data=b"y", mode=0o600))  # fmt: skip
    result = unpack(tmp_path, tar, dest, privileged=True)
    assert stat.S_IMODE((dest / "ro").stat().st_mode) == 0o555
    assert stat.S_IMODE((dest / "ro/file").stat().st_mode) == 0o4755
    assert (dest / "ro/file").stat().st_mtime == 1_600_000_000
    assert result.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()  # type: ignore[attr-defined]


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership needs root")
def test_ownership_as_root(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, _ = sandbox
    tar = make_tar(entry("home/app", kind=tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1000),
                   entry("home/app/f", data=b"x", uid=1234, gid=5678),
                   entry("home/app/l", kind=tarfile.SYMTYPE, link="f", uid=42, gid=43))  # fmt: skip
    unpack(tmp_path, tar, dest)
    assert ((dest / "home/app").stat().st_uid, (dest / "home/app").stat().st_gid) == (1000, 1000)
    assert ((dest / "home/app/f").stat().st_uid, (dest / "home/app/f").stat().st_gid) == (1234, 5678)
    assert os.lstat(dest / "home/app/l").st_uid == 42


def test_device_nodes_are_skipped_without_privilege(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, _ = sandbox
    tar = make_tar(entry("dev/null", kind=tarfile.CHRTYPE, major=1, minor=3, mode=0o666),
                   entry("dev/fifo", kind=tarfile.FIFOTYPE, mode=0o600))  # fmt: skip
    result = unpack(tmp_path, tar, dest, privileged=False)
    assert not (dest / "dev/null").exists()
    assert result.skipped == ("dev/null",)  # type: ignore[attr-defined]
    assert stat.S_ISFIFO((dest / "dev/fifo").stat().st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="device nodes need root")
def test_device_nodes_as_root(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, _ = sandbox
    unpack(tmp_path, make_tar(entry("dev/null", kind=tarfile.CHRTYPE, major=1, minor=3, mode=0o666)), dest)
    st = (dest / "dev/null").lstat()
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


def whiteout_layers(tmp_path: Path, *, privileged: bool) -> tuple[list[LayerDir], Path]:
    lower = make_tar(entry("etc/keep", data=b"k"), entry("etc/gone", data=b"g"), entry("opt/a", data=b"a"),
                     entry("opt/sub/b", data=b"b"), entry("dir/x", data=b"x"))  # fmt: skip
    upper = make_tar(entry("etc/.wh.gone"), entry("opt/.wh..wh..opq"), entry("opt/new", data=b"n"), entry(".wh.dir"))
    layers = []
    for i, tar in enumerate((lower, upper)):
        d = tmp_path / f"l{i}"
        d.mkdir()
        result = unpack(tmp_path, tar, d, privileged=privileged)
        layers.append(LayerDir(d, result.whiteouts, result.opaque_dirs))  # type: ignore[attr-defined]
    return layers, tmp_path / "merged"


@pytest.mark.parametrize("privileged", [False, True])
def test_whiteouts_and_opaque_dirs(tmp_path: Path, privileged: bool) -> None:
    if privileged and os.geteuid() != 0:
        pytest.skip("overlay whiteouts need root")
    layers, merged = whiteout_layers(tmp_path, privileged=privileged)
    assert sorted(layers[1].whiteouts) == ["dir", "etc/gone"]
    assert list(layers[1].opaque_dirs) == ["opt"]
    if privileged:  # in overlayfs' own format, ready to mount
        st = (layers[1].path / "etc/gone").lstat()
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
        assert os.getxattr(layers[1].path / "opt", "trusted.overlay.opaque") == b"y"
    else:
        assert not (layers[1].path / "etc/gone").exists()
    flatten_layers(layers, merged)
    assert sorted(str(p.relative_to(merged)) for p in merged.rglob("*")) == ["etc", "etc/keep", "opt", "opt/new"]


def test_gzip_and_zstd(tmp_path: Path) -> None:
    tar = make_tar(entry("hello", data=b"world"))
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    gz = tmp_path / "layer.gz"
    gz.write_bytes(gzip.compress(tar))
    (tmp_path / "a").mkdir()
    assert unpack_layer(gz, tmp_path / "a").diff_id == diff_id
    assert (tmp_path / "a/hello").read_bytes() == b"world"
    if not zstd_support():
        pytest.skip("neither the zstandard module nor the zstd program is available")
    raw = tmp_path / "layer.tar"
    raw.write_bytes(tar)
    subprocess.run(
        [shutil.which("zstd") or "zstd", "-q", "-f", str(raw), "-o", str(tmp_path / "layer.zst")], check=True
    )
    (tmp_path / "b").mkdir()
    assert unpack_layer(tmp_path / "layer.zst", tmp_path / "b").diff_id == diff_id
    assert (tmp_path / "b/hello").read_bytes() == b"world"


def test_later_entries_replace_earlier_ones(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    dest, _ = sandbox
    tar = make_tar(entry("a/b", data=b"file"), entry("a", data=b"now a file"), entry("c", kind=tarfile.DIRTYPE),
                   entry("c", kind=tarfile.DIRTYPE, mode=0o700))  # fmt: skip
    unpack(tmp_path, tar, dest)
    assert (dest / "a").read_bytes() == b"now a file"
    assert stat.S_IMODE((dest / "c").stat().st_mode) == 0o700
