"""The payment service's metrics, rendered in the Prometheus text exposition format (version 0.0.4).

A hand-written registry rather than ``prometheus_client`` so that the image needs nothing but
the standard library. It holds exactly what the demo needs: request counters by method, route
and status, a latency histogram by route, requests in flight, payments by outcome, ``payment_info`` (the version
that answered) and the usual ``process_*`` series a Prometheus scrape expects.

Routes, not raw paths, are labels: an unknown path is counted as ``other`` so that a scanner
cannot grow the series without bound.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds of the latency histogram, in seconds (Prometheus client libraries' defaults)."""


def escape_label_value(value: str) -> str:
    """Escape a label value as the text format requires: backslash, double quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels.items())
    return "{" + inner + "}"


def format_value(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


@dataclass
class _Histogram:
    """One route's latency series: cumulative bucket counts, the sum and the count."""

    size: int
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * self.size

    def copy(self) -> _Histogram:
        return _Histogram(self.size, list(self.counts), self.total, self.count)


class Metrics:
    """Counters and a histogram, safe to update from the event loop and from worker threads."""

    def __init__(self, *, version: str, pod: str, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.version = version
        self.pod = pod
        self.start_time = time.time()
        self._buckets = tuple(sorted(buckets))
        # One lock for all series: updates are a few dict operations, and /metrics must see a
        # consistent snapshot (a histogram's _count equal to its +Inf bucket).
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[str, _Histogram] = {}
        self._payments: dict[tuple[str, str], int] = {}
        self._in_flight = 0

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count a finished request (one that :meth:`request_started`)."""
        with self._lock:
            self._in_flight -= 1
            key = (method, route, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            series = self._latency.setdefault(route, _Histogram(len(self._buckets)))
            # Cumulative buckets, as the format wants them: an observation counts in every
            # bucket whose upper bound it does not exceed.
            for index, bound in enumerate(self._buckets):
                if seconds <= bound:
                    series.counts[index] += 1
            series.total += seconds
            series.count += 1

    def observe_payment(self, *, status: str, currency: str) -> None:
        with self._lock:
            key = (status, currency)
            self._payments[key] = self._payments.get(key, 0) + 1

    def render(self) -> str:
        with self._lock:
            requests = dict(self._requests)
            latency = {route: series.copy() for route, series in self._latency.items()}
            payments = dict(self._payments)
            in_flight = self._in_flight

        lines: list[str] = []
        lines += _family(
            "payment_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route and status code.",
            (
                f"payment_http_requests_total{format_labels({'method': m, 'path': r, 'status': s})} {n}"
                for (m, r, s), n in sorted(requests.items())
            ),
        )
        histogram: list[str] = []
        for route, series in sorted(latency.items()):
            for bound, count in zip(self._buckets, series.counts, strict=True):
                labels = format_labels({"path": route, "le": format_value(bound)})
                histogram.append(f"payment_http_request_duration_seconds_bucket{labels} {count}")
            inf_labels = format_labels({"path": route, "le": "+Inf"})
            histogram.append(f"payment_http_request_duration_seconds_bucket{inf_labels} {series.count}")
            route_labels = format_labels({"path": route})
            histogram.append(f"payment_http_request_duration_seconds_sum{route_labels} {format_value(series.total)}")
            histogram.append(f"payment_http_request_duration_seconds_count{route_labels} {series.count}")
        lines += _family(
            "payment_http_request_duration_seconds",
            "histogram",
            "Time from receiving a request to the end of its response, by route.",
            histogram,
        )
        lines += _family(
            "payment_http_requests_in_flight",
            "gauge",
            "Requests being answered now (this scrape included).",
            [f"payment_http_requests_in_flight {in_flight}"],
        )
        lines += _family(
            "payment_payments_total",
            "counter",
            "Payments processed, by outcome and currency.",
            (
                f"payment_payments_total{format_labels({'status': s, 'currency': c})} {n}"
                for (s, c), n in sorted(payments.items())
            ),
        )
        lines += _family(
            "payment_info",
            "gauge",
            "The version of the payment service and the pod that answered (always 1).",
            [f"payment_info{format_labels({'version': self.version, 'pod': self.pod})} 1"],
        )
        lines += self._process_families()
        return "\n".join(lines) + "\n"

    def _process_families(self) -> list[str]:
        times = os.times()
        lines = _family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            [f"process_start_time_seconds {format_value(round(self.start_time, 3))}"],
        )
        lines += _family(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            [f"process_cpu_seconds_total {format_value(round(times.user + times.system, 3))}"],
        )
        resident = _resident_memory_bytes()
        if resident is not None:
            lines += _family(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                [f"process_resident_memory_bytes {resident}"],
            )
        return lines


def _resident_memory_bytes() -> int | None:
    # /proc is Linux-only; elsewhere the series is simply left out rather than reported as 0.
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
