"""A tiny HTTP/1.1 server for rollout tests: answers its version, and shuts down gracefully.

Run as ``python3 graceful_http.py PORT``; ``GET /`` answers the ``VERSION`` environment variable.
On SIGTERM it stops accepting (the listening socket is closed, so a new connection is refused
rather than left waiting), answers every request still arriving on open connections with
``Connection: close``, and exits once no connection is open (at most ``DRAIN_SECONDS``).
It relies on nothing else: a rollout is zero-downtime only if the cluster stops sending new
connections before the signal, which is what the test checks.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("VERSION", "unknown").encode()
DRAIN_SECONDS = 8.0
IDLE_SECONDS = 2.0
"""An idle keep-alive connection is closed after this (so draining ends)."""

draining = threading.Event()
open_connections = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS

    def setup(self) -> None:
        global open_connections
        with lock:
            open_connections += 1
        super().setup()

    def finish(self) -> None:
        global open_connections
        try:
            super().finish()
        finally:
            with lock:
                open_connections -= 1

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(VERSION)))
        if draining.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(VERSION)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    print(f"serving {VERSION.decode()} on {port}", flush=True)
    stop.wait()
    draining.set()
    server.shutdown()
    server.socket.close()
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        with lock:
            if open_connections == 0:
                break
        time.sleep(0.02)
    print("drained, exiting", flush=True)


if __name__ == "__main__":
    main()
