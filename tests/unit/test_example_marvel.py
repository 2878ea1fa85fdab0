"""The marvel-collection example (examples/marvel-collection): the collection, and buying through payment.

``server.js`` runs under the machine's ``node`` on a free loopback port, talking to a real payment
``serve.py`` (started the same way), or to a deliberately slow stand-in, or to nothing at all.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.test_example_payment import (
    REPO,
    Reply,
    ServedProcess,
    http_request,
    start_payment,
    start_server,
)

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
]

MARVEL_DIR = REPO / "examples" / "marvel-collection"
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


def start_marvel(tmp_path: Path, **settings: str) -> ServedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": "0",
        "HOST": "127.0.0.1",
        "HOSTNAME": "marvel-test-pod",
        **settings,
    }
    node = shutil.which("node")
    assert node is not None
    return start_server([node, str(MARVEL_DIR / "server.js")], tmp_path=tmp_path, env=env, listening=LISTENING)


def buy(port: int, character: str, order: dict[str, str] | None = None) -> Reply:
    body = json.dumps(order).encode() if order is not None else None
    return http_request(port, "POST", f"/characters/{character}/buy", body=body)


def free_port() -> int:
    # A port nothing listens on (bound, then released): "payment is down".
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def payment(tmp_path: Path) -> Iterator[ServedProcess]:
    served = start_payment(tmp_path, VERSION="v3", HOSTNAME="payment-pod-1")
    yield served
    served.stop()


@pytest.fixture
def marvel(tmp_path: Path, payment: ServedProcess) -> Iterator[ServedProcess]:
    served = start_marvel(tmp_path, PAYMENT_URL=f"http://127.0.0.1:{payment.port}/pay")
    yield served
    served.stop()


def test_bundled_data_is_a_clean_collection() -> None:
    characters = json.loads((MARVEL_DIR / "data" / "characters.json").read_text())
    assert 18 <= len(characters) <= 30
    assert [c["id"] for c in characters] == list(range(1, len(characters) + 1))
    assert len({c["slug"] for c in characters}) == len(characters)
    for character in characters:
        assert set(character) == {"id", "slug", "name", "alias", "firstAppearance", "team"}
        assert re.fullmatch(r"[a-z0-9-]+", character["slug"])
        assert 1939 <= character["firstAppearance"]["year"] <= 2025
        assert character["firstAppearance"]["comic"]
        assert character["team"]


def test_lists_and_filters_the_collection(marvel: ServedProcess) -> None:
    reply = http_request(marvel.port, "GET", "/characters")
    assert reply.status == 200
    collection = reply.json()
    assert collection["count"] == len(collection["characters"]) >= 18
    assert any(c["alias"] == "Iron Man" for c in collection["characters"])
    x_men = http_request(marvel.port, "GET", "/characters?team=x-men").json()
    assert x_men["count"] > 0
    assert {c["team"] for c in x_men["characters"]} == {"X-Men"}
    assert reply.headers["x-pod"] == "marvel-test-pod"


def test_gets_one_character_by_id_or_slug(marvel: ServedProcess) -> None:
    by_id = http_request(marvel.port, "GET", "/characters/1")
    assert by_id.status == 200
    by_slug = http_request(marvel.port, "GET", f"/characters/{by_id.json()['slug']}").json()
    assert by_slug["id"] == 1
    missing = http_request(marvel.port, "GET", "/characters/9999")
    assert missing.status == 404
    assert "9999" in missing.json()["error"]
    assert http_request(marvel.port, "GET", "/nothing-here").status == 404
    assert http_request(marvel.port, "GET", "/characters/1/buy").status == 405


def test_buying_returns_the_receipt_from_payment(marvel: ServedProcess) -> None:
    reply = buy(marvel.port, "iron-man")
    assert reply.status == 200, reply.body
    bought = reply.json()
    assert bought["character"]["alias"] == "Iron Man"
    receipt = bought["receipt"]
    assert receipt["status"] == "approved"
    assert receipt["id"].startswith("pay_")
    # It really came from the payment process, not from marvel-collection.
    assert (receipt["version"], receipt["pod"]) == ("v3", "payment-pod-1")
    assert bought["servedBy"]["pod"] == "marvel-test-pod"


def test_payment_refusals_are_passed_on(marvel: ServedProcess) -> None:
    declined = buy(marvel.port, "1", {"card": "4000 0000 0000 0002"})
    assert declined.status == 402
    assert declined.json()["payment"]["status"] == "declined"
    invalid = buy(marvel.port, "1", {"currency": "dollars"})
    assert invalid.status == 422
    assert invalid.json()["payment"]["details"][0]["field"] == "currency"
    not_json = http_request(marvel.port, "POST", "/characters/1/buy", body=b"{oops")
    assert not_json.status == 400


def test_payment_down_is_a_502_that_says_so(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/pay"
    served = start_marvel(tmp_path, PAYMENT_URL=url)
    try:
        reply = buy(served.port, "thor")
        assert reply.status == 502
        error = reply.json()["error"]
        assert url in error
        assert "unreachable" in error
        assert "ECONNREFUSED" in error
    finally:
        served.stop()


class _SlowPayment(http.server.BaseHTTPRequestHandler):
    """A payment stand-in that answers after ``delay`` seconds; ``arrived`` is set per request."""

    delay = 1.0
    arrived: threading.Event

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.arrived.set()
        time.sleep(self.delay)
        body = json.dumps({"id": "pay_slow", "status": "approved"}).encode()
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the caller gave up (the timeout test)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class SlowPayment:
    url: str
    arrived: threading.Event


@pytest.fixture
def slow_payment() -> Iterator[SlowPayment]:
    arrived = threading.Event()
    handler = type("SlowPaymentHandler", (_SlowPayment,), {"arrived": arrived})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SlowPayment(f"http://127.0.0.1:{server.server_address[1]}/pay", arrived)
    server.shutdown()
    server.server_close()


def test_a_payment_that_does_not_answer_in_time_is_a_502(tmp_path: Path, slow_payment: SlowPayment) -> None:
    served = start_marvel(tmp_path, PAYMENT_URL=slow_payment.url, PAYMENT_TIMEOUT_MS="200")
    try:
        reply = buy(served.port, "hulk")
        assert reply.status == 502
        assert "ETIMEDOUT" in reply.json()["error"]
    finally:
        served.stop()


def test_kubernetes_service_variables_locate_payment(tmp_path: Path, payment: ServedProcess) -> None:
    # What a pod created after the payment Service gets from Kubernetes (and no PAYMENT_URL).
    served = start_marvel(tmp_path, PAYMENT_SERVICE_HOST="127.0.0.1", PAYMENT_SERVICE_PORT=str(payment.port))
    try:
        info = http_request(served.port, "GET", "/").json()
        assert info["payment"] == f"http://127.0.0.1:{payment.port}/pay"
        assert buy(served.port, "storm").json()["receipt"]["pod"] == "payment-pod-1"
    finally:
        served.stop()


def test_default_payment_url_is_the_service_name(tmp_path: Path) -> None:
    served = start_marvel(tmp_path)
    try:
        assert http_request(served.port, "GET", "/").json()["payment"] == "http://payment:8080/pay"
    finally:
        served.stop()


def test_sigterm_finishes_in_flight_refuses_new_connections_and_exits_0(
    tmp_path: Path, slow_payment: SlowPayment
) -> None:
    served = start_marvel(tmp_path, PAYMENT_URL=slow_payment.url)
    try:
        assert http_request(served.port, "GET", "/readyz").status == 200
        result: dict[str, Reply] = {}
        thread = threading.Thread(target=lambda: result.update(reply=buy(served.port, "1")))
        thread.start()
        # The purchase is in flight once it waits on the slow payment (1 s).
        assert slow_payment.arrived.wait(timeout=10), "the purchase never reached payment"
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
        assert thread.is_alive()
        thread.join(timeout=10)
        reply = result["reply"]
        assert reply.status == 200
        assert reply.json()["receipt"]["id"] == "pay_slow"
        assert reply.headers["connection"] == "close"
        assert served.process.wait(timeout=10) == 0
        assert "SIGTERM received" in served.log()
    finally:
        served.stop()
