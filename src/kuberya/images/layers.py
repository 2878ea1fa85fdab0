"""Safe unpacking of layer archives into plain directories, one directory per layer.

A layer is a tar stream, maybe gzip- or zstd-compressed (detected from its magic bytes, not trusted
from a media type). Each layer is unpacked into its own directory so the runc runtime can stack
them with overlayfs (``lowerdir=Ln:…:L1``) and two images sharing a base share its directories.

**Nothing may escape the layer directory.** Every path is resolved component by component from an
open directory file descriptor with ``O_NOFOLLOW``: a name with ``..`` is refused outright, a
leading ``/`` is dropped (tar paths are relative to the image root), and any attempt to create
something *through* a symlink - a symlink the same archive made, absolute or relative - is refused
instead of followed. Symlinks themselves are stored verbatim (``/bin/sh -> /bin/busybox`` is normal
in an image: it is resolved inside the container, never by us). Hard links must name an entry that
already exists inside the layer. An existing entry is replaced, never written through: a file
created with ``O_EXCL | O_NOFOLLOW`` cannot land on a symlink.

**Whiteouts** (``.wh.NAME`` deletes NAME from lower layers, ``.wh..wh..opq`` hides a lower
directory's contents) are always recorded in :class:`UnpackResult`; as root they are also written
the way overlayfs reads them (a 0/0 character device, the ``trusted.overlay.opaque`` xattr), so the
directory can be mounted as it is. :func:`flatten_layers` applies a stack of layers into one plain
directory using the recorded whiteouts, for runtimes and tests without overlayfs.

**Ownership and modes** are applied as root (uids, gids, setuid bits, xattrs from PAX headers); as
a normal user, files belong to the user and device nodes are skipped, listed in
:attr:`UnpackResult.skipped`. Directory modes and times are applied last, deepest first, so a
read-only directory in the archive doesn't stop its own children from being written.

The uncompressed stream is hashed on the way through: the result's ``diff_id`` is what an image
config's ``rootfs.diff_ids`` must say, and the store checks it.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from kuberya.images.errors import ImageError, UnsafeLayerError
from kuberya.images.oci import Digest

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_COPY_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FD_CACHE_SIZE = 256

try:  # optional: faster than the zstd binary, but not a dependency
    import zstandard as _zstandard  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _zstandard = None


@dataclass(frozen=True, slots=True)
class UnpackResult:
    diff_id: Digest
    """sha256 of the uncompressed tar stream."""
    size: int
    """Bytes of the uncompressed tar stream."""
    whiteouts: tuple[str, ...] = ()
    """Paths (relative, ``/``-separated) this layer deletes from the layers below."""
    opaque_dirs: tuple[str, ...] = ()
    """Directories whose lower contents this layer hides (``""`` is the root)."""
    overlay_ready: bool = True
    """Whiteouts are also materialised for overlayfs (0/0 char devices, opaque xattrs)."""
    skipped: tuple[str, ...] = ()
    """Entries not created (device nodes without the privilege to make them)."""


def compression_of(head: bytes) -> str:
    """``gzip``, ``zstd`` or ``none`` from a stream's first bytes."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return "none"


def zstd_support() -> str:
    """How zstd layers are read here: ``zstandard`` (module), ``zstd`` (binary) or ``""`` (not at all)."""
    if _zstandard is not None:
        return "zstandard"
    return "zstd" if shutil.which("zstd") else ""


@contextlib.contextmanager
def open_uncompressed(path: Path) -> Iterator[IO[bytes]]:
    """The uncompressed bytes of a layer file, whatever its compression."""
    with path.open("rb") as raw:
        kind = compression_of(raw.read(4))
        raw.seek(0)
        if kind == "gzip":
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield cast(IO[bytes], stream)
        elif kind == "zstd":
            with _open_zstd(path, raw) as stream:
                yield stream
        else:
            yield raw


@contextlib.contextmanager
def _open_zstd(path: Path, raw: IO[bytes]) -> Iterator[IO[bytes]]:
    if _zstandard is not None:
        reader = _zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        with reader:
            yield cast(IO[bytes], reader)
        return
    binary = shutil.which("zstd")
    if binary is None:
        raise ImageError(
            f"{path.name} is zstd-compressed, and neither the `zstandard` Python module nor the `zstd` "
            "program is available: install one (apt-get install zstd)"
        )
    proc = subprocess.Popen([binary, "-dcq", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        yield proc.stdout
        proc.stdout.read()  # drain, so a short read by the caller can't deadlock the child
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise ImageError(f"zstd could not decompress {path.name}: {err.strip() or f'exit status {code}'}")


class _HashingReader(io.RawIOBase):
    """Hashes and counts what passes through, so unpacking also yields the diff_id."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self.hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.hash.update(data)
        self.size += n
        return n

    def drain(self) -> None:
        while self.read(_COPY_CHUNK):
            pass


def safe_parts(name: str) -> tuple[str, ...]:
    """The components of a tar path, relative to the layer root; ``..`` anywhere is refused."""
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeLayerError(f"layer entry {name!r} points outside the layer (contains '..')")
    if any("\0" in p for p in parts):
        raise UnsafeLayerError(f"layer entry {name!r} contains a NUL byte")
    return parts


class _Tree:
    """Directory fds under one root, opened without following symlinks, with a small cache."""

    def __init__(self, root: Path) -> None:
        self.root_fd = os.open(root, _DIR_FLAGS)
        self._cache: dict[tuple[str, ...], int] = {}

    def close(self) -> None:
        for fd in self._cache.values():
            os.close(fd)
        self._cache.clear()
        os.close(self.root_fd)

    def dir_fd(self, parts: tuple[str, ...], *, create: bool) -> int:
        """An fd of the directory ``parts`` (owned by the cache: do not close it)."""
        if not parts:
            return self.root_fd
        cached = self._cache.get(parts)
        if cached is not None:
            return cached
        parent = self.dir_fd(parts[:-1], create=create)
        name = parts[-1]
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o755, dir_fd=parent)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                what = "a symlink" if _is_symlink(parent, name) else "not a directory"
                raise UnsafeLayerError(
                    f"layer entry under {'/'.join(parts)!r} would be created through {what}; refused"
                ) from e
            raise
        if len(self._cache) >= _FD_CACHE_SIZE:
            os.close(self._cache.pop(next(iter(self._cache))))
        self._cache[parts] = fd
        return fd

    def forget(self, parts: tuple[str, ...]) -> None:
        """Drop cached fds at and below ``parts``: that directory was removed or replaced."""
        for key in [k for k in self._cache if k[: len(parts)] == parts]:
            os.close(self._cache.pop(key))

    def remove(self, parts: tuple[str, ...], *, keep_dir: bool = False) -> None:
        """Remove whatever is at ``parts`` (a directory recursively), unless it's a directory to keep."""
        parent = self.dir_fd(parts[:-1], create=True)
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            self.forget(parts)
            shutil.rmtree(parts[-1], dir_fd=parent)
        else:
            os.unlink(parts[-1], dir_fd=parent)


def _is_symlink(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


@dataclass
class _Unpacker:
    tree: _Tree
    privileged: bool
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    overlay_ready: bool = True
    dirs: list[tuple[tuple[str, ...], tarfile.TarInfo]] = field(default_factory=list)

    def entry(self, member: tarfile.TarInfo, archive: tarfile.TarFile) -> None:
        parts = safe_parts(member.name)
        if not parts:  # the root itself ("./"): its metadata applies to the layer directory
            if member.isdir():
                self.dirs.append(((), member))
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts)
            return
        parent = self.tree.dir_fd(parts[:-1], create=True)
        if member.isdir():
            self.tree.remove(parts, keep_dir=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(base, 0o700, dir_fd=parent)
            self.dirs.append((parts, member))
            return
        if member.islnk():
            self._hardlink(parts, member)
            return
        self.tree.remove(parts)
        if member.isfile():
            self._file(parent, base, member, archive)
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=parent)
            self._owner_and_times(parent, base, member, follow=False)
        elif member.ischr() or member.isblk() or member.isfifo():
            self._special(parent, parts, member)
        else:
            self.skipped.append("/".join(parts))

    def _file(self, parent: int, base: str, member: tarfile.TarInfo, archive: tarfile.TarFile) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(base, flags, 0o600, dir_fd=parent)
        with os.fdopen(fd, "wb", closefd=True) as out:
            source = archive.extractfile(member)
            if source is not None:
                shutil.copyfileobj(source, out, _COPY_CHUNK)
            out.flush()
            if self.privileged:
                _chown(out.fileno(), member)
                _xattrs(out.fileno(), member)
            os.chmod(out.fileno(), member.mode & 0o7777)
            os.utime(out.fileno(), (member.mtime, member.mtime))

    def _hardlink(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        target = safe_parts(member.linkname)
        if not target:
            raise UnsafeLayerError(f"hard link {member.name!r} points at the layer root")
        if target == parts:
            return
        try:
            source_dir = self.tree.dir_fd(target[:-1], create=False)
            os.stat(target[-1], dir_fd=source_dir, follow_symlinks=False)
        except FileNotFoundError as e:
            raise UnsafeLayerError(
                f"hard link {member.name!r} -> {member.linkname!r}: the target is not in this layer"
            ) from e
        self.tree.remove(parts)
        parent = self.tree.dir_fd(parts[:-1], create=True)
        os.link(target[-1], parts[-1], src_dir_fd=source_dir, dst_dir_fd=parent, follow_symlinks=False)

    def _special(self, parent: int, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        base = parts[-1]
        if member.isfifo():
            os.mkfifo(base, member.mode & 0o7777, dir_fd=parent)
        else:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            try:
                if not self.privileged:
                    raise PermissionError
                os.mknod(base, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor),
                         dir_fd=parent)  # fmt: skip
            except PermissionError:
                self.skipped.append("/".join(parts))
                return
        self._owner_and_times(parent, base, member, follow=True)

    def _whiteout(self, parts: tuple[str, ...]) -> None:
        base, dir_parts = parts[-1], parts[:-1]
        parent = self.tree.dir_fd(dir_parts, create=True)
        if base == OPAQUE_MARKER:
            self.opaque.append("/".join(dir_parts))
            if self.privileged:
                try:
                    os.setxattr(parent, "trusted.overlay.opaque", b"y")
                except OSError:
                    self.overlay_ready = False
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other AUFS metadata (.wh..wh.plnk…): meaningless outside AUFS
        name = base[len(WHITEOUT_PREFIX) :]
        target = (*dir_parts, name)
        self.whiteouts.append("/".join(target))
        if self.privileged:
            self.tree.remove(target)
            try:
                os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
            except OSError:
                self.overlay_ready = False

    def _owner_and_times(self, parent: int, base: str, member: tarfile.TarInfo, *, follow: bool) -> None:
        if self.privileged:
            with contextlib.suppress(PermissionError):
                os.chown(base, member.uid, member.gid, dir_fd=parent, follow_symlinks=follow)
        if follow:
            os.chmod(base, member.mode & 0o7777, dir_fd=parent)
        os.utime(base, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=follow)

    def finish_dirs(self) -> None:
        # Deepest first: a 0555 directory must not be closed before its children are done.
        for parts, member in sorted(self.dirs, key=lambda item: len(item[0]), reverse=True):
            try:
                fd = self.tree.dir_fd(parts, create=False)
            except (FileNotFoundError, UnsafeLayerError):
                continue  # replaced by a later entry
            if self.privileged:
                _chown(fd, member)
                _xattrs(fd, member)
            mode = member.mode & 0o7777
            os.chmod(fd, mode if self.privileged else mode | 0o700)
            os.utime(fd, (member.mtime, member.mtime))


def _chown(fd: int, member: tarfile.TarInfo) -> None:
    with contextlib.suppress(PermissionError):
        os.fchown(fd, member.uid, member.gid)


def _xattrs(fd: int, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            with contextlib.suppress(OSError):
                os.setxattr(fd, key.removeprefix("SCHILY.xattr."), value.encode("utf-8", "surrogateescape"))


def unpack_layer(source: Path, dest: Path, *, privileged: bool | None = None) -> UnpackResult:
    """Unpack the layer file ``source`` (any compression) into the existing empty directory ``dest``.

    ``privileged`` defaults to "running as root". Raises :class:`UnsafeLayerError` for an archive that
    tries to escape ``dest``; ``dest`` is then left half-written for the caller to delete.
    """
    as_root = os.geteuid() == 0 if privileged is None else privileged
    with open_uncompressed(source) as stream:
        reader = _HashingReader(stream)
        buffered = io.BufferedReader(reader, _COPY_CHUNK)
        tree = _Tree(dest)
        unpacker = _Unpacker(tree=tree, privileged=as_root)
        try:
            try:
                with tarfile.open(fileobj=buffered, mode="r|", errorlevel=2) as archive:
                    for member in archive:
                        unpacker.entry(member, archive)
            except tarfile.TarError as e:
                raise ImageError(f"layer {source.name} is not a valid tar archive: {e}") from e
            unpacker.finish_dirs()
        finally:
            tree.close()
        buffered.read()  # the tar end-of-archive padding is part of the diff_id
        reader.drain()
    return UnpackResult(
        diff_id=Digest("sha256:" + reader.hash.hexdigest()),
        size=reader.size,
        whiteouts=tuple(unpacker.whiteouts),
        opaque_dirs=tuple(unpacker.opaque),
        overlay_ready=as_root and unpacker.overlay_ready,
        skipped=tuple(unpacker.skipped),
    )


def diff_id_of(source: Path) -> Digest:
    """sha256 of a layer's uncompressed stream, without unpacking it."""
    digest = hashlib.sha256()
    with open_uncompressed(source) as stream:
        while chunk := stream.read(_COPY_CHUNK):
            digest.update(chunk)
    return Digest("sha256:" + digest.hexdigest())


@dataclass(frozen=True, slots=True)
class LayerDir:
    """An unpacked layer as :func:`flatten_layers` needs it."""

    path: Path
    whiteouts: Sequence[str] = ()
    opaque_dirs: Sequence[str] = ()


def flatten_layers(layers: Sequence[LayerDir], dest: Path) -> None:
    """Apply ``layers`` (lowest first) into ``dest`` as a single plain directory tree.

    What overlayfs does at mount time, done with copies: each layer's whiteouts and opaque
    directories delete from what is below, then its entries replace what is there (a directory
    over a directory merges). For runtimes and machines without overlayfs, and for tests.
    """
    dest.mkdir(parents=True, exist_ok=True)
    tree = _Tree(dest)
    try:
        for layer in layers:
            for opaque in layer.opaque_dirs:
                parts = safe_parts(opaque)
                with contextlib.suppress(FileNotFoundError):
                    fd = tree.dir_fd(parts, create=False)
                    for name in os.listdir(fd):
                        tree.remove((*parts, name))
            for whiteout in layer.whiteouts:
                parts = safe_parts(whiteout)
                with contextlib.suppress(FileNotFoundError, UnsafeLayerError):
                    tree.remove(parts)
            _copy_tree(layer.path, (), tree)
    finally:
        tree.close()


def _copy_tree(source: Path, parts: tuple[str, ...], tree: _Tree) -> None:
    with os.scandir(source) as entries:
        for entry in entries:
            target = (*parts, entry.name)
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                continue  # an overlay whiteout: already applied from the layer's record
            if stat.S_ISDIR(st.st_mode):
                tree.remove(target, keep_dir=True)
                parent = tree.dir_fd(parts, create=True)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(entry.name, 0o700, dir_fd=parent)
                _copy_tree(Path(entry.path), target, tree)
                fd = tree.dir_fd(target, create=False)
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, st.st_uid, st.st_gid)
                os.chmod(fd, stat.S_IMODE(st.st_mode))
                continue
            tree.remove(target)
            parent = tree.dir_fd(parts, create=True)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(entry.path), entry.name, dir_fd=parent)
            elif stat.S_ISREG(st.st_mode):
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                with (
                    open(entry.path, "rb") as src,
                    os.fdopen(os.open(entry.name, flags, 0o600, dir_fd=parent), "wb") as out,
                ):
                    shutil.copyfileobj(src, out, _COPY_CHUNK)
                    with contextlib.suppress(PermissionError):
                        os.fchown(out.fileno(), st.st_uid, st.st_gid)
                    os.chmod(out.fileno(), stat.S_IMODE(st.st_mode))
            elif stat.S_ISFIFO(st.st_mode):
                os.mkfifo(entry.name, stat.S_IMODE(st.st_mode), dir_fd=parent)
            else:
                with contextlib.suppress(PermissionError):
                    os.mknod(entry.name, st.st_mode, st.st_rdev, dir_fd=parent)
