"""The holder of a rootless pod's network namespace: a tiny process that keeps it alive and makes sockets in it.

Started by :class:`kuberya.runtime.rootless.RootlessNetwork` as ``unshare --user --map-root-user
--net -- python -c <import this> DIRECTORY READY_FD``, so it runs in a new user namespace (where
the user who started it is root) and a new network namespace owned by it, with no privilege on
the host. It then:

1. brings ``lo`` up (``SIOCSIFFLAGS``: root in its own user namespace may);
2. listens on ``DIRECTORY/netns.sock`` (a Unix socket on the file system, so reachable from the
   host's network namespace; bound by a relative name after ``chdir``, as the path may be longer
   than a socket address holds);
3. writes ``ok`` to ``READY_FD``;
4. serves forever: each connection sends ``4`` or ``6`` and gets back one TCP socket of that
   family, made here (so it lives in this namespace), passed with ``SCM_RIGHTS``; the agent then
   connects it to ``127.0.0.1:<port>`` itself (:class:`kuberya.runtime.nsconnect.SocketFactory`).

It runs outside the package (``-I -S``, standard library only), like the shim, and ends on
``SIGTERM``/``SIGKILL`` from the runtime; the namespace lives on while a container is still in it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import sys
import time

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sH22x"
SOCKET_NAME = "netns.sock"


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        request = struct.pack(IFREQ, b"lo", 0)
        flags = struct.unpack(IFREQ, fcntl.ioctl(control, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(control, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def serve(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:  # out of descriptors, say: the holder must not end for that
            time.sleep(0.1)
            continue
        with connection, contextlib.suppress(OSError):  # the asker left: nothing to hand over
            connection.settimeout(5.0)
            family = socket.AF_INET6 if connection.recv(1) == b"6" else socket.AF_INET
            try:
                made = socket.socket(family, socket.SOCK_STREAM)
            except OSError as e:
                connection.sendall(b"e" + str(e).encode()[:500])
                continue
            with made:
                socket.send_fds(connection, [b"k"], [made.fileno()])


def main(argv: list[str]) -> int:
    directory, ready_fd = argv[1], int(argv[2])
    try:
        loopback_up()
        os.chdir(directory)
        if os.path.lexists(SOCKET_NAME):
            os.unlink(SOCKET_NAME)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(SOCKET_NAME)
        listener.listen(64)
    except OSError as e:
        os.write(ready_fd, f"error {e}\n".encode())
        return 1
    os.write(ready_fd, b"ok\n")
    os.close(ready_fd)
    os.chdir("/")  # keep no directory busy
    serve(listener)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
