"""The holder of a rootless pod's network namespace: a tiny process that keeps it alive and makes sockets in it.

Started by :class:`kuberya.runtime.rootless.RootlessNetwork` as ``unshare --user --map-root-user
--net -- python -c <import this> DIRECTORY READY_FD [LOCAL_CIDR ...]``, so it runs in a new user namespace (where
the user who started it is root) and a new network namespace owned by it, with no privilege on
the host. It then:

1. brings ``lo`` up (``SIOCSIFFLAGS``: root in its own user namespace may) and, for each CIDR
   it is given, adds a ``local`` route to it on ``lo`` (one ``RTM_NEWROUTE`` over netlink): every
   address of the service range then counts as the pod's own, so the agent can listen on a
   ClusterIP inside the namespace and relay what the pod sends there (see
   :mod:`kuberya.proxy.podside`) — the pod's only way out;
2. listens on ``DIRECTORY/netns.sock`` (a Unix socket on the file system, so reachable from the
   host's network namespace; bound by a relative name after ``chdir``, as the path may be longer
   than a socket address holds);
3. writes ``ok`` to ``READY_FD``;
4. serves forever: each connection sends ``4`` or ``6`` (the family), optionally followed by
   ``u`` for a UDP socket, and gets back one socket of that kind (TCP without ``u``, as holders
   before UDP understood it), made here (so it lives in this namespace), passed with
   ``SCM_RIGHTS``; the agent then connects it to ``127.0.0.1:<port>``, or binds it to a ClusterIP,
   itself (:class:`kuberya.runtime.nsconnect.SocketFactory`).

It runs outside the package (``-I -S``, standard library only), like the shim, and ends on
``SIGTERM``/``SIGKILL`` from the runtime; the namespace lives on while a container is still in it.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
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

# Netlink, from <linux/netlink.h> and <linux/rtnetlink.h>.
NETLINK_ROUTE = 0
NLMSG_ERROR = 2
RTM_NEWROUTE = 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
RT_TABLE_LOCAL = 255
RTPROT_STATIC = 4
RT_SCOPE_HOST = 254
RTN_LOCAL = 2
RTA_DST, RTA_OIF = 1, 4
NLMSGHDR = "=IHHII"
RTMSG = "=BBBBBBBBI"


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        request = struct.pack(IFREQ, b"lo", 0)
        flags = struct.unpack(IFREQ, fcntl.ioctl(control, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(control, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def _attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def add_local_route(cidr: str) -> None:
    """``ip route add local CIDR dev lo table local``: the whole range is this namespace's own."""
    network = ipaddress.ip_network(cidr)
    family = socket.AF_INET6 if network.version == 6 else socket.AF_INET
    body = struct.pack(RTMSG, family, network.prefixlen, 0, 0, RT_TABLE_LOCAL, RTPROT_STATIC, RT_SCOPE_HOST,
                       RTN_LOCAL, 0)  # fmt: skip
    body += _attribute(RTA_DST, network.network_address.packed)
    body += _attribute(RTA_OIF, struct.pack("=I", socket.if_nametoindex("lo")))
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    message = struct.pack(NLMSGHDR, struct.calcsize(NLMSGHDR) + len(body), RTM_NEWROUTE, flags, 1, 0) + body
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as channel:
        channel.settimeout(5.0)
        channel.sendto(message, (0, 0))
        answer = channel.recv(65536)
    _, kind, _, _, _ = struct.unpack_from(NLMSGHDR, answer)
    if kind == NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", answer, struct.calcsize(NLMSGHDR))
        if code:
            raise OSError(-code, f"adding the local route {cidr}: {os.strerror(-code)}")


def serve(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:  # out of descriptors, say: the holder must not end for that
            time.sleep(0.1)
            continue
        with connection, contextlib.suppress(OSError):  # the asker left: nothing to hand over
            connection.settimeout(5.0)
            request = connection.recv(2)  # the asker sends its one request in one write
            family = socket.AF_INET6 if request[:1] == b"6" else socket.AF_INET
            kind = socket.SOCK_DGRAM if request[1:2] == b"u" else socket.SOCK_STREAM
            try:
                made = socket.socket(family, kind)
            except OSError as e:
                connection.sendall(b"e" + str(e).encode()[:500])
                continue
            with made:
                socket.send_fds(connection, [b"k"], [made.fileno()])


def main(argv: list[str]) -> int:
    directory, ready_fd, local_cidrs = argv[1], int(argv[2]), argv[3:]
    try:
        loopback_up()
        for cidr in local_cidrs:
            add_local_route(cidr)
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
