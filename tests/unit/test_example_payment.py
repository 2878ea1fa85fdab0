"""The payment example (examples/payment): its endpoints, metrics and the stdlib ASGI server.

``serve.py`` runs as a real subprocess on a free loopback port (``PORT=0``; the port is read back
from its "listening on" log line), and is spoken to with ``http.client`` and raw sockets, so the
HTTP/1.1 framing and the SIGTERM behaviour are what a kubelet and a Service would see.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PAYMENT_DIR = REPO / "examples" / "payment"
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


@dataclass
class ServedProcess:
    """A server started by a test; ``port`` is the one it reported it listens on."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(
    argv: list[str], *, tmp_path: Path, env: dict[str, str], listening: re.Pattern[str], cwd: Path | None = None
) -> ServedProcess:
    """Start ``argv`` with its output in a log file and wait for the line that gives its port."""
    log_path = tmp_path / f"server-{uuid.uuid4().hex[:8]}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        match = listening.search(log_path.read_text(errors="replace"))
        if match:
            return ServedProcess(process, int(match.group(1)), log_path)
        if process.poll() is not None:
            break
        time.sleep(0.02)
    served = ServedProcess(process, 0, log_path)
    served.stop()
    pytest.fail(f"{argv} did not start listening:\n{served.log()}")


def start_payment(tmp_path: Path, **settings: str) -> ServedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": "0",
        "HOST": "127.0.0.1",
        "SERVER": "builtin",
        "HOSTNAME": "payment-test-pod",
        "PYTHONDONTWRITEBYTECODE": "1",  # keep examples/ free of __pycache__
        **settings,
    }
    return start_server(
        [sys.executable, str(PAYMENT_DIR / "serve.py")], tmp_path=tmp_path, env=env, listening=LISTENING
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    port: int, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def pay(port: int, payload: Any) -> Reply:
    return http_request(
        port, "POST", "/pay", body=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )


@pytest.fixture
def payment(tmp_path: Path) -> Iterator[ServedProcess]:
    served = start_payment(tmp_path, VERSION="v7")
    yield served
    served.stop()


# --- endpoints ---------------------------------------------------------------------------------


def test_info_reports_version_and_pod(payment: ServedProcess) -> None:
    reply = http_request(payment.port, "GET", "/")
    assert reply.status == 200
    info = reply.json()
    assert info["service"] == "payment"
    assert info["version"] == "v7"
    assert info["pod"] == "payment-test-pod"
    assert "POST /pay" in info["endpoints"]
    assert reply.headers["x-version"] == "v7"
    assert reply.headers["x-pod"] == "payment-test-pod"


def test_pay_returns_a_receipt(payment: ServedProcess) -> None:
    reply = pay(payment.port, {"amount": 12.5, "currency": "usd", "card": "4242 4242 4242 4242"})
    assert reply.status == 200, reply.body
    receipt = reply.json()
    assert receipt["status"] == "approved"
    assert receipt["id"].startswith("pay_")
    assert receipt["amount"] == 12.5
    assert receipt["currency"] == "USD"
    assert receipt["card"] == "**** 4242"  # never the whole number
    assert receipt["version"] == "v7"
    assert receipt["pod"] == "payment-test-pod"
    assert receipt["created"].endswith("Z")
    second = pay(payment.port, {"amount": 1, "currency": "KRW", "card": "4242-4242-4242-4242"}).json()
    assert second["id"] != receipt["id"]


def test_pay_declines_the_declined_test_card(payment: ServedProcess) -> None:
    reply = pay(payment.port, {"amount": 3, "currency": "EUR", "card": "4000000000000002"})
    assert reply.status == 402
    assert reply.json()["status"] == "declined"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"currency": "USD", "card": "4242424242424242"}, {"amount"}),
        ({"amount": -1, "currency": "USD", "card": "4242424242424242"}, {"amount"}),
        ({"amount": True, "currency": "USD", "card": "4242424242424242"}, {"amount"}),
        ({"amount": 1.005, "currency": "USD", "card": "4242424242424242"}, {"amount"}),
        ({"amount": "10", "currency": "US", "card": "4242424242424241"}, {"amount", "currency", "card"}),
        ({"amount": 10, "currency": "USD", "card": "12ab"}, {"card"}),
        ([1, 2, 3], {"body"}),
    ],
)
def test_pay_validation_errors_are_422_with_every_field(payment: ServedProcess, payload: Any, fields: set[str]) -> None:
    reply = pay(payment.port, payload)
    assert reply.status == 422
    problems = reply.json()
    assert problems["error"] == "validation failed"
    assert {detail["field"] for detail in problems["details"]} == fields
    assert all(detail["message"] for detail in problems["details"])


def test_pay_with_a_body_that_is_not_json_is_400(payment: ServedProcess) -> None:
    reply = http_request(payment.port, "POST", "/pay", body=b"{amount: 1")
    assert reply.status == 400
    assert "not valid JSON" in reply.json()["error"]


def test_unknown_path_and_wrong_method(payment: ServedProcess) -> None:
    assert http_request(payment.port, "GET", "/nope").status == 404
    reply = http_request(payment.port, "GET", "/pay")
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"


def test_head_has_headers_and_no_body(payment: ServedProcess) -> None:
    reply = http_request(payment.port, "HEAD", "/healthz")
    assert reply.status == 200
    assert int(reply.headers["content-length"]) > 0
    assert reply.body == b""


def test_injected_faults_fail_the_probes_until_reset(payment: ServedProcess) -> None:
    port = payment.port
    assert http_request(port, "GET", "/healthz").status == 200
    assert http_request(port, "GET", "/readyz").status == 200

    assert http_request(port, "POST", "/fault/ready").status == 200
    assert http_request(port, "GET", "/readyz").status == 503
    assert http_request(port, "GET", "/healthz").status == 200  # not ready is not dead

    assert http_request(port, "POST", "/fault/reset").status == 200
    assert http_request(port, "POST", "/fault/health").status == 200
    assert http_request(port, "GET", "/healthz").status == 500
    # An unhealthy pod leaves the Service's endpoints while it waits for its restart.
    readiness = http_request(port, "GET", "/readyz")
    assert readiness.status == 503
    assert "unhealthy" in readiness.json()["reason"]

    assert http_request(port, "POST", "/fault/reset").status == 200
    assert http_request(port, "GET", "/healthz").status == 200
    assert http_request(port, "GET", "/readyz").status == 200


def test_work_burns_cpu_for_the_time_asked(payment: ServedProcess) -> None:
    started = time.monotonic()
    reply = http_request(payment.port, "GET", "/work?ms=150")
    assert reply.status == 200
    assert reply.json()["worked_ms"] >= 150
    assert time.monotonic() - started >= 0.15
    assert http_request(payment.port, "GET", "/work?ms=abc").status == 422
    assert http_request(payment.port, "GET", "/work?ms=999999").status == 422


def test_readiness_is_503_during_the_startup_delay(tmp_path: Path) -> None:
    served = start_payment(tmp_path, STARTUP_DELAY="2.0")
    try:
        early = http_request(served.port, "GET", "/readyz")
        assert early.status == 503
        assert early.json()["reason"].startswith("starting")
        assert http_request(served.port, "GET", "/healthz").status == 200  # alive while starting
        deadline = time.monotonic() + 5
        while http_request(served.port, "GET", "/readyz").status != 200:
            assert time.monotonic() < deadline, "never became ready"
            time.sleep(0.1)
    finally:
        served.stop()


def test_bad_startup_delay_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(PAYMENT_DIR / "serve.py")],
        env={"PATH": os.environ.get("PATH", ""), "PORT": "0", "STARTUP_DELAY": "soon", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "STARTUP_DELAY must be a number of seconds" in result.stderr


def test_readiness_turns_503_when_shutdown_begins_and_liveness_does_not() -> None:
    # In-process through ASGI (no server): the event is what serve.py sets on SIGTERM.
    script = textwrap.dedent(
        """
        import asyncio, json, threading
        from app import SHUTDOWN_STATE_KEY, PaymentApp, Settings

        async def call(app, path, state):
            sent = []
            async def receive():
                return {"type": "http.request", "body": b"", "more_body": False}
            async def send(message):
                sent.append(message)
            scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "state": dict(state)}
            await app(scope, receive, send)
            return sent[0]["status"]

        async def main():
            app = PaymentApp(Settings(version="v1", pod="p"))
            event = threading.Event()
            state = {SHUTDOWN_STATE_KEY: event}
            inbox = [{"type": "lifespan.startup"}]
            replies = []
            async def receive():
                return inbox.pop(0)
            async def send(message):
                replies.append(message["type"])
            lifespan = asyncio.create_task(app({"type": "lifespan", "state": state}, receive, send))
            while not replies:
                await asyncio.sleep(0)
            before = (await call(app, "/readyz", state), await call(app, "/healthz", state))
            event.set()
            after = (await call(app, "/readyz", state), await call(app, "/healthz", state))
            lifespan.cancel()
            print(json.dumps({"replies": replies, "before": before, "after": after}))

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PAYMENT_DIR,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["replies"] == ["lifespan.startup.complete"]
    assert outcome["before"] == [200, 200]
    assert outcome["after"] == [503, 200]


# --- metrics -----------------------------------------------------------------------------------

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_LINE = re.compile(rf"^({METRIC_NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


@dataclass
class Family:
    kind: str
    help: str
    samples: list[tuple[str, dict[str, str], float]]


def parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = LABEL_PAIR.match(text, position)
        assert match, f"bad label syntax at {text[position:]!r}"
        name, value = match.groups()
        assert name not in labels, f"label {name} repeated"
        labels[name] = value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        position = match.end()
        if position < len(text):
            assert text[position] == ",", f"expected ',' at {text[position:]!r}"
            position += 1
    return labels


def parse_prometheus_text(text: str) -> dict[str, Family]:
    """A strict reading of the text exposition format 0.0.4, enough to catch what scrapers reject."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict[str, Family] = {}
    helps: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in helps, f"HELP for {name} given twice"
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in families, f"TYPE for {name} given twice"
            families[name] = Family(kind, helps.get(name, ""), [])
        elif line.startswith("#") or not line:
            continue
        else:
            match = SAMPLE_LINE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, label_text, value_text = match.groups()
            family_name = name
            if name not in families:
                family_name = re.sub(r"_(bucket|sum|count)$", "", name)
                assert families.get(family_name) and families[family_name].kind == "histogram", (
                    f"sample {name} comes before its TYPE line"
                )
            value = float(value_text)  # accepts +Inf, NaN
            families[family_name].samples.append((name, parse_labels(label_text or ""), value))
    return families


def test_metrics_are_valid_prometheus_text(payment: ServedProcess) -> None:
    for _ in range(3):
        pay(payment.port, {"amount": 5, "currency": "USD", "card": "4242424242424242"})
    http_request(payment.port, "GET", "/healthz")
    http_request(payment.port, "GET", "/no-such-path")
    reply = http_request(payment.port, "GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = parse_prometheus_text(reply.body.decode())

    assert all(family.help for family in families.values())
    requests = families["payment_http_requests_total"]
    assert requests.kind == "counter"
    counts = {(labels["method"], labels["path"], labels["status"]): value for _, labels, value in requests.samples}
    assert counts[("POST", "/pay", "200")] == 3
    assert counts[("GET", "/healthz", "200")] == 1
    assert counts[("GET", "other", "404")] == 1  # raw unknown paths never become labels

    histogram = families["payment_http_request_duration_seconds"]
    assert histogram.kind == "histogram"
    pay_buckets = [
        (labels["le"], value)
        for name, labels, value in histogram.samples
        if name.endswith("_bucket") and labels["path"] == "/pay"
    ]
    values = [value for _, value in pay_buckets]
    assert values == sorted(values), "buckets must be cumulative"
    assert pay_buckets[-1][0] == "+Inf"
    bounds = [float(le) for le, _ in pay_buckets]
    assert bounds == sorted(bounds)
    total_count = next(v for n, labels, v in histogram.samples if n.endswith("_count") and labels["path"] == "/pay")
    assert pay_buckets[-1][1] == total_count == 3

    info = families["payment_info"]
    assert info.kind == "gauge"
    assert info.samples == [("payment_info", {"version": "v7", "pod": "payment-test-pod"}, 1.0)]
    assert families["payment_payments_total"].samples == [
        ("payment_payments_total", {"status": "approved", "currency": "USD"}, 3.0)
    ]
    start_time = families["process_start_time_seconds"].samples[0][2]
    assert math.isclose(start_time, time.time(), abs_tol=120)
    assert families["payment_http_requests_in_flight"].samples[0][2] == 1  # the scrape itself


def test_metrics_parser_rejects_malformed_text() -> None:
    with pytest.raises(AssertionError):
        parse_prometheus_text('# TYPE a counter\na{x="1} 1\n')
    with pytest.raises(AssertionError):
        parse_prometheus_text("orphan_sample 1\n")
    with pytest.raises(AssertionError):
        parse_prometheus_text("# TYPE a counter\na 1")


# --- the HTTP/1.1 server -----------------------------------------------------------------------


def read_raw_response(stream: Any) -> tuple[int, dict[str, str], bytes]:
    """One response from a socket file, framed by Content-Length, chunked or the close."""
    status_line = stream.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if status == 100:
        return status, headers, b""
    if "content-length" in headers:
        return status, headers, stream.read(int(headers["content-length"]))
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int(stream.readline().strip(), 16)
            if size == 0:
                assert stream.readline() == b"\r\n"
                return status, headers, body
            body += stream.read(size)
            assert stream.read(2) == b"\r\n"
    return status, headers, stream.read()


@pytest.fixture
def streaming(tmp_path: Path) -> Iterator[tuple[ServedProcess, Path]]:
    """serve.py running a small streaming ASGI app that records its lifespan events."""
    (tmp_path / "streamer.py").write_text(
        textwrap.dedent(
            """
            import asyncio, os

            async def app(scope, receive, send):
                if scope["type"] == "lifespan":
                    while True:
                        message = await receive()
                        with open(os.environ["EVENTS_FILE"], "a") as events:
                            events.write(message["type"] + "\\n")
                        if message["type"] == "lifespan.startup":
                            scope["state"]["greeting"] = "hello"
                            await send({"type": "lifespan.startup.complete"})
                        else:
                            await send({"type": "lifespan.shutdown.complete"})
                            return
                body = (await receive())["body"]
                if scope["path"] == "/wait":
                    with open(os.environ["EVENTS_FILE"], "a") as events:
                        events.write("request /wait\\n")
                    await asyncio.sleep(float(scope["query_string"] or b"0"))
                    flag = scope["state"]["payment.shutdown_requested"].is_set()
                    body = b"shutdown requested" if flag else b"running"
                await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"streamer")]})
                for part in (b"echo:", body, b":", scope["state"]["greeting"].encode()):
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            """
        )
    )
    events = tmp_path / "events.txt"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORT": "0",
        "HOST": "127.0.0.1",
        "APP": "streamer:app",
        "PYTHONPATH": str(tmp_path),
        "EVENTS_FILE": str(events),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    served = start_server(
        [sys.executable, str(PAYMENT_DIR / "serve.py")], tmp_path=tmp_path, env=env, listening=LISTENING
    )
    yield served, events
    served.stop()


def raw_connection(port: int) -> tuple[socket.socket, Any]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock, sock.makefile("rb")


def test_streamed_response_is_chunked_and_lifespan_state_reaches_requests(
    streaming: tuple[ServedProcess, Path],
) -> None:
    served, events = streaming
    sock, stream = raw_connection(served.port)
    with sock, stream:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = read_raw_response(stream)
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    assert body == b"echo::hello"
    assert events.read_text() == "lifespan.startup\n"


def test_chunked_request_body_and_pipelined_keep_alive(streaming: tuple[ServedProcess, Path]) -> None:
    served, _ = streaming
    sock, stream = raw_connection(served.port)
    with sock, stream:
        sock.sendall(
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"
            b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxy"
        )
        assert read_raw_response(stream)[2] == b"echo:abcdef:hello"
        assert read_raw_response(stream)[2] == b"echo:xy:hello"
        # Still open: a third request on the same connection.
        sock.sendall(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_raw_response(stream)[0] == 200


def test_expect_100_continue(streaming: tuple[ServedProcess, Path]) -> None:
    served, _ = streaming
    sock, stream = raw_connection(served.port)
    with sock, stream:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert read_raw_response(stream)[0] == 100
        sock.sendall(b"body")
        assert read_raw_response(stream)[2] == b"echo:body:hello"


def test_http_1_0_gets_a_close_delimited_body(streaming: tuple[ServedProcess, Path]) -> None:
    served, _ = streaming
    sock, stream = raw_connection(served.port)
    with sock, stream:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        status, headers, body = read_raw_response(stream)
    assert status == 200
    assert headers["connection"] == "close"
    assert "transfer-encoding" not in headers
    assert body == b"echo::hello"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nBad Header : x\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
    ],
)
def test_malformed_requests_are_refused_and_closed(
    streaming: tuple[ServedProcess, Path], request_bytes: bytes, status: int
) -> None:
    served, _ = streaming
    sock, stream = raw_connection(served.port)
    with sock, stream:
        sock.sendall(request_bytes)
        answer = read_raw_response(stream)
        assert answer[0] == status
        assert answer[1]["connection"] == "close"
        assert stream.read() == b""


def test_sigterm_runs_lifespan_shutdown_and_tells_the_app(streaming: tuple[ServedProcess, Path]) -> None:
    served, events = streaming
    result: dict[str, bytes] = {}

    def slow() -> None:
        sock, stream = raw_connection(served.port)
        with sock, stream:
            sock.sendall(b"GET /wait?1.0 HTTP/1.1\r\nHost: x\r\n\r\n")
            result["body"] = read_raw_response(stream)[2]

    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + 5
    while "request /wait" not in events.read_text():  # the app has it, and sleeps for a second
        assert time.monotonic() < deadline, "the request never reached the app"
        time.sleep(0.02)
    served.process.send_signal(signal.SIGTERM)
    thread.join(timeout=10)
    assert result["body"] == b"echo:shutdown requested:hello"
    assert served.process.wait(timeout=10) == 0
    assert events.read_text() == "lifespan.startup\nrequest /wait\nlifespan.shutdown\n"


# --- graceful shutdown of the payment service --------------------------------------------------


def in_flight(port: int) -> float:
    text = http_request(port, "GET", "/metrics").body.decode()
    return parse_prometheus_text(text)["payment_http_requests_in_flight"].samples[0][2]


def test_sigterm_finishes_in_flight_refuses_new_connections_and_exits_0(tmp_path: Path) -> None:
    served = start_payment(tmp_path)
    try:
        idle = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
        idle.request("GET", "/healthz")
        idle.getresponse().read()  # a keep-alive connection, now idle

        result: dict[str, Reply] = {}
        slow = threading.Thread(target=lambda: result.update(reply=http_request(served.port, "GET", "/work?ms=1500")))
        slow.start()
        deadline = time.monotonic() + 5
        while in_flight(served.port) < 2:  # the slow request and this scrape
            assert time.monotonic() < deadline, "the slow request never started"
            time.sleep(0.02)

        served.process.send_signal(signal.SIGTERM)
        refused = False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not refused:
            try:
                socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
                time.sleep(0.02)
            except ConnectionRefusedError:
                refused = True
        assert refused, "new connections were still accepted after SIGTERM"
        assert slow.is_alive(), "refusal should come while the slow request is still being answered"

        assert idle.sock is not None
        assert idle.sock.recv(1) == b"", "idle keep-alive connections are closed at shutdown"
        idle.close()

        slow.join(timeout=15)
        reply = result["reply"]
        assert reply.status == 200
        assert reply.json()["worked_ms"] >= 1500
        assert reply.headers["connection"] == "close"
        assert served.process.wait(timeout=15) == 0
        log = served.log()
        assert "waiting up to" in log
        assert "stopped" in log
    finally:
        served.stop()


def test_requests_past_the_grace_period_are_cancelled_and_exit_is_still_0(tmp_path: Path) -> None:
    served = start_payment(tmp_path, GRACE_PERIOD="0.5")
    try:
        errors: list[BaseException] = []

        def slow() -> None:
            try:
                http_request(served.port, "GET", "/work?ms=8000")
            except (http.client.HTTPException, OSError) as error:
                errors.append(error)

        thread = threading.Thread(target=slow)
        thread.start()
        deadline = time.monotonic() + 5
        while in_flight(served.port) < 2:
            assert time.monotonic() < deadline, "the slow request never started"
            time.sleep(0.02)
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=10) == 0
        # Well before the 8 s of work: the burning thread was told to stop.
        assert time.monotonic() - started < 4
        thread.join(timeout=10)
        assert errors, "the cancelled request should end without a response"
        assert "cancelling 1 request(s)" in served.log()
    finally:
        served.stop()
