"""A bounded HTTP load on loopback (or the cluster's own addresses) that counts every failure.

:class:`Load` runs ``clients`` threads against one ``host:port`` until :meth:`Load.stop`, the
time limit or the request budget, whichever comes first. Half the clients open a new connection
per request; the other half keep one connection alive. A keep-alive client follows HTTP's own
rule for a connection the server closed while it was idle (RFC 9112 §9.3.1): a request that got
*no byte* of answer on a *reused* connection is retried once on a new one — that is counted
as ``stale_retries``, not as a failure. Anything else that is not a ``200`` is a failure.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


@dataclass
class Result:
    requests: int = 0
    failures: int = 0
    stale_retries: int = 0
    versions: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    failure_log: list[str] = field(default_factory=list)
    """When (seconds into the run) and how each failure happened, for the report."""

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "stale_retries": self.stale_retries,
            "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(self.percentile(50) * 1000, 2),
            "p99_ms": round(self.percentile(99) * 1000, 2),
            "versions": dict(self.versions),
            "errors": dict(self.errors.most_common(5)),
        }


class Load:
    """``clients`` threads of requests to ``http://host:port/``; bounded in time and count."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clients: int = 4,
        max_seconds: float = 60.0,
        max_requests: int = 20_000,
        pause: float = 0.0,
        timeout: float = 5.0,
    ) -> None:
        self.host, self.port = host, port
        self.clients = clients
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.pause = pause
        """Seconds each client waits between requests (keeps a long run inside the budget)."""
        self.timeout = timeout
        self.result = Result()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def start(self) -> Load:
        self._started = time.monotonic()
        for i in range(self.clients):
            keep_alive = i % 2 == 1
            thread = threading.Thread(target=self._run, args=(keep_alive,), name=f"load-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> Result:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        self.result.seconds = time.monotonic() - self._started
        return self.result

    def run_for(self, seconds: float) -> Result:
        self.start()
        self._stop.wait(seconds)
        return self.stop()

    def _budget_left(self) -> bool:
        if self._stop.is_set() or time.monotonic() - self._started > self.max_seconds:
            return False
        return self.result.requests < self.max_requests

    def _record(self, *, ok: bool, latency: float, body: str = "", error: str = "", stale: int = 0) -> None:
        with self._lock:
            r = self.result
            r.requests += 1
            r.stale_retries += stale
            if ok:
                r.versions[body] += 1
                r.latencies.append(latency)
            else:
                r.failures += 1
                r.errors[error] += 1

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _run(self, keep_alive: bool) -> None:
        conn: http.client.HTTPConnection | None = None
        used = False
        while self._budget_left():
            began = time.monotonic()
            stale = 0
            try:
                if conn is None:
                    conn, used = self._connect(), False
                try:
                    status, body, closing = self._get(conn)
                except STALE:
                    if not used:
                        raise
                    conn.close()  # the server closed it while idle: once more, on a new connection
                    conn, stale = self._connect(), 1
                    status, body, closing = self._get(conn)
                used = True
                if closing:  # the server said Connection: close
                    conn.close()
                    conn = None
                ok = status == 200
                self._record(ok=ok, latency=time.monotonic() - began, body=body, error=f"HTTP {status}", stale=stale)
            except (OSError, http.client.HTTPException) as e:
                kind = "keep-alive" if keep_alive else "new connection"
                at = began - self._started
                self._record(ok=False, latency=0.0, error=f"{kind}: {type(e).__name__}: {e}", stale=stale)
                self.result.failure_log.append(f"{at:.2f}s {kind}: {type(e).__name__}: {e}")
                if conn is not None:
                    conn.close()
                conn = None
            if not keep_alive and conn is not None:
                conn.close()
                conn = None
            if self.pause:
                self._stop.wait(self.pause)
        if conn is not None:
            conn.close()

    @staticmethod
    def _get(conn: http.client.HTTPConnection) -> tuple[int, str, bool]:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        return response.status, body, bool(response.will_close)
