"""The payment service of kuberya's demo: a small ASGI application with no third-party dependency.

Endpoints (JSON unless said otherwise; every response carries ``x-version`` and ``x-pod``):

- ``GET /`` — what this is: service, version, pod, endpoints.
- ``POST /pay`` ``{"amount": 12.5, "currency": "USD", "card": "4242 4242 4242 4242"}`` — a receipt
  (id, status, amount, currency, masked card, version, pod, created). Invalid fields answer 422
  with every problem listed; a body that is not JSON answers 400. The test card
  ``4000 0000 0000 0002`` is declined (402), like the payment processors' test cards.
- ``GET /healthz`` — liveness: 200 unless a fault was injected.
- ``GET /readyz`` — readiness: 503 during ``STARTUP_DELAY``, once shutdown has begun (so the
  endpoints controller takes the pod out of the Service before it stops) and while unhealthy.
- ``GET /metrics`` — Prometheus text format (:mod:`metrics`).
- ``POST /fault/health``, ``POST /fault/ready``, ``POST /fault/reset`` — make the probes fail, or
  heal them, for the self-healing demo.
- ``GET /work?ms=200`` — burn that much CPU (in a worker thread), for the autoscaling demo.

Settings come from the environment once, at import (``app = PaymentApp(Settings.from_env(...))``):
``VERSION`` (default ``v1``), ``STARTUP_DELAY`` seconds (default 0), ``HOSTNAME`` (the pod's name in
Kubernetes). ``PORT`` is the server's (see ``serve.py``).

Shutdown is learnt from the server: ``serve.py`` puts a :class:`threading.Event` in the ASGI
lifespan state under :data:`SHUTDOWN_STATE_KEY` and sets it when SIGTERM arrives. ASGI's own
``lifespan.shutdown`` comes only after the connections are closed, too late to fail readiness.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SHUTDOWN_STATE_KEY = "payment.shutdown_requested"
"""Lifespan-state key of the :class:`threading.Event` the server sets when shutdown begins."""

DECLINED_TEST_CARD = "4000000000000002"
MAX_AMOUNT = Decimal("1000000")
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Settings:
    version: str = "v1"
    """Reported in every response and in ``payment_info``; baked into the image by its Dockerfile."""
    pod: str = "localhost"
    """Who answered: the pod name in Kubernetes (``HOSTNAME``), so load balancing is visible."""
    startup_delay: float = 0.0
    """Seconds during which ``/readyz`` answers 503 after startup, to show readiness gating."""
    max_work_ms: int = 10_000
    """Upper bound of ``/work?ms=``, so one request cannot pin a CPU for long."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        raw_delay = environ.get("STARTUP_DELAY", "0")
        try:
            delay = float(raw_delay)
        except ValueError:
            raise ValueError(f"STARTUP_DELAY must be a number of seconds, got {raw_delay!r}") from None
        if not math.isfinite(delay) or delay < 0:
            raise ValueError(f"STARTUP_DELAY must be a non-negative number of seconds, got {raw_delay!r}")
        return cls(
            version=environ.get("VERSION") or "v1",
            pod=environ.get("HOSTNAME") or socket.gethostname(),
            startup_delay=delay,
        )


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Scope, bytes], Awaitable[Response]]


def json_response(status: int, payload: Any, *, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode() + b"\n", headers=headers)


class PaymentApp:
    """The ASGI callable; see the module docstring for the endpoints."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics(version=settings.version, pod=settings.pod)
        # Until a lifespan startup says otherwise, count the delay from construction, so that
        # servers without lifespan support still get a working readiness probe.
        self._ready_at = time.monotonic() + settings.startup_delay
        self._shutdown_requested: threading.Event | None = None
        self._stopping = False
        self.health_fault = False
        self.ready_fault = False
        self._routes: dict[str, dict[str, Handler]] = {
            "/": {"GET": self._info},
            "/pay": {"POST": self._pay},
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/metrics": {"GET": self._metrics},
            "/fault/health": {"POST": self._fault_health},
            "/fault/ready": {"POST": self._fault_ready},
            "/fault/reset": {"POST": self._fault_reset},
            "/work": {"GET": self._work},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._ready_at = time.monotonic() + self.settings.startup_delay
                state = scope.get("state")
                if state is not None:
                    event = state.get(SHUTDOWN_STATE_KEY)
                    if isinstance(event, threading.Event):
                        self._shutdown_requested = event
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._stopping = True
                await send({"type": "lifespan.shutdown.complete"})
                return

    def shutting_down(self, scope: Scope | None = None) -> bool:
        if self._stopping or (self._shutdown_requested is not None and self._shutdown_requested.is_set()):
            return True
        # A server may hand the event to requests only (their state is a copy of the lifespan's).
        event = (scope or {}).get("state", {}).get(SHUTDOWN_STATE_KEY)
        return isinstance(event, threading.Event) and event.is_set()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        methods = self._routes.get(path)
        route = path if methods is not None else "other"
        status = 500  # what is counted if the handler raises or is cancelled
        self.metrics.request_started()
        try:
            status = await self._answer(scope, receive, send, methods)
        finally:
            self.metrics.observe_request(
                method=method, route=route, status=status, seconds=time.perf_counter() - started
            )

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        methods: dict[str, Handler] | None,
    ) -> int:
        method: str = scope["method"]
        path: str = scope["path"]
        body, too_large = await _read_body(receive, limit=MAX_BODY_BYTES)
        if too_large:
            response = json_response(413, {"error": f"request body is larger than {MAX_BODY_BYTES} bytes"})
        elif methods is None:
            response = json_response(404, {"error": f"no route for {path}", "routes": sorted(self._routes)})
        else:
            # HEAD is GET without a body; the server drops the body bytes.
            handler = methods.get("GET" if method == "HEAD" else method)
            if handler is None:
                allow = ", ".join(sorted(methods))
                response = json_response(
                    405, {"error": f"{method} is not allowed on {path}; use {allow}"}, headers=(("allow", allow),)
                )
            else:
                response = await handler(scope, body)
        await _send_response(send, response, settings=self.settings)
        return response.status

    async def _info(self, scope: Scope, body: bytes) -> Response:
        return json_response(
            200,
            {
                "service": "payment",
                "version": self.settings.version,
                "pod": self.settings.pod,
                "endpoints": sorted(f"{m} {p}" for p, methods in self._routes.items() for m in methods),
            },
        )

    async def _pay(self, scope: Scope, body: bytes) -> Response:
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return json_response(400, {"error": f"request body is not valid JSON: {error}"})
        payment, problems = validate_payment(payload)
        if problems:
            return json_response(422, {"error": "validation failed", "details": problems})
        assert payment is not None
        status = "declined" if payment.card == DECLINED_TEST_CARD else "approved"
        self.metrics.observe_payment(status=status, currency=payment.currency)
        receipt = {
            "id": "pay_" + uuid.uuid4().hex[:24],
            "status": status,
            "amount": float(payment.amount),
            "currency": payment.currency,
            "card": "**** " + payment.card[-4:],
            "version": self.settings.version,
            "pod": self.settings.pod,
            "created": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        return json_response(200 if status == "approved" else 402, receipt)

    async def _healthz(self, scope: Scope, body: bytes) -> Response:
        if self.health_fault:
            return json_response(500, {"healthy": False, "reason": "fault injected by POST /fault/health"})
        return json_response(200, {"healthy": True})

    async def _readyz(self, scope: Scope, body: bytes) -> Response:
        reason = self.not_ready_reason(scope)
        if reason:
            return json_response(503, {"ready": False, "reason": reason})
        return json_response(200, {"ready": True})

    def not_ready_reason(self, scope: Scope | None = None) -> str:
        """Why the pod should receive no traffic now, or ``""`` when it should."""
        if self.shutting_down(scope):
            return "shutting down"
        remaining = self._ready_at - time.monotonic()
        if remaining > 0:
            return f"starting (ready in {remaining:.1f}s)"
        if self.ready_fault:
            return "fault injected by POST /fault/ready"
        # A pod that is not healthy should not get traffic while it waits to be restarted either.
        if self.health_fault:
            return "unhealthy (fault injected by POST /fault/health)"
        return ""

    async def _metrics(self, scope: Scope, body: bytes) -> Response:
        return Response(200, self.metrics.render().encode(), content_type=METRICS_CONTENT_TYPE)

    async def _fault_health(self, scope: Scope, body: bytes) -> Response:
        self.health_fault = True
        return json_response(200, {"fault": "health", "effect": "/healthz now answers 500"})

    async def _fault_ready(self, scope: Scope, body: bytes) -> Response:
        self.ready_fault = True
        return json_response(200, {"fault": "ready", "effect": "/readyz now answers 503"})

    async def _fault_reset(self, scope: Scope, body: bytes) -> Response:
        self.health_fault = self.ready_fault = False
        return json_response(200, {"fault": None, "effect": "/healthz and /readyz are back to normal"})

    async def _work(self, scope: Scope, body: bytes) -> Response:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        raw = query.get("ms", ["100"])[-1]
        limit = self.settings.max_work_ms
        if not raw.isdigit() or int(raw) > limit:
            return json_response(
                422,
                {
                    "error": "validation failed",
                    "details": [{"field": "ms", "message": f"must be an integer from 0 to {limit}, got {raw!r}"}],
                },
            )
        # In a thread so that probes and /metrics still get answers while the CPU burns; told to
        # stop when the request is cancelled (shutdown past its grace period), since a thread
        # cannot be killed and would hold up the process's exit.
        stop = threading.Event()
        try:
            worked = await asyncio.to_thread(burn_cpu, int(raw) / 1000, stop)
        finally:
            stop.set()
        return json_response(
            200, {"worked_ms": round(worked * 1000), "version": self.settings.version, "pod": self.settings.pod}
        )


@dataclass(frozen=True)
class Payment:
    amount: Decimal
    currency: str
    card: str


def validate_payment(payload: Any) -> tuple[Payment | None, list[dict[str, str]]]:
    """A :class:`Payment`, or every problem with the request (field and message) at once."""
    if not isinstance(payload, dict):
        return None, [{"field": "body", "message": 'must be a JSON object like {"amount": 10, ...}'}]
    problems: list[dict[str, str]] = []
    amount = _parse_amount(payload.get("amount"), problems)
    currency = payload.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        problems.append({"field": "currency", "message": "must be a three-letter ISO 4217 code such as USD or KRW"})
    card = payload.get("card")
    digits = card.replace(" ", "").replace("-", "") if isinstance(card, str) else ""
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19):
        problems.append({"field": "card", "message": "must be a card number of 12 to 19 digits"})
    elif not luhn_valid(digits):
        problems.append({"field": "card", "message": "is not a valid card number (checksum failed)"})
    if problems or amount is None:
        return None, problems
    return Payment(amount=amount, currency=str(currency).upper(), card=digits), []


def _parse_amount(value: Any, problems: list[dict[str, str]]) -> Decimal | None:
    # bool is an int in Python; true/false are not amounts.
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append({"field": "amount", "message": "must be a number"})
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        problems.append({"field": "amount", "message": f"must be greater than 0 and at most {MAX_AMOUNT}"})
        return None
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        problems.append({"field": "amount", "message": "must have at most two decimal places"})
        return None
    return amount


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every card number carries."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def burn_cpu(seconds: float, stop: threading.Event) -> float:
    """Hash in a loop for ``seconds`` of wall time or until ``stop``; returns the time spent."""
    start = time.perf_counter()
    block = b"kuberya" * 128
    while time.perf_counter() - start < seconds and not stop.is_set():
        for _ in range(100):
            block = hashlib.sha256(block).digest() * 28
    return time.perf_counter() - start


async def _read_body(receive: Receive, *, limit: int) -> tuple[bytes, bool]:
    """The whole request body, or ``(b"", True)`` once it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


async def _send_response(send: Send, response: Response, *, settings: Settings) -> None:
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(response.body)).encode()),
        (b"x-version", settings.version.encode()),
        (b"x-pod", settings.pod.encode()),
        *((name.encode(), value.encode()) for name, value in response.headers),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


app = PaymentApp(Settings.from_env(os.environ))
