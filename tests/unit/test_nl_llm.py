"""kuberya.nl.llm: the optional fallback, against fake endpoints (a function, and a server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kuberya.nl import Intent, LLMError, LLMSettings, NotUnderstood, llm_parse

SETTINGS = LLMSettings(base_url="http://llm.invalid/v1/", api_key="sk-test", model="tiny")


def completion(content: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


class FakeTransport:
    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any], Mapping[str, str], float]] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> bytes:
        self.calls.append((url, json.loads(body), headers, timeout))
        return self.answer


def test_asks_for_json_and_validates_the_answer() -> None:
    fake = FakeTransport(completion('{"intent": "scale_by", "app": "payment", "delta": 2, "reason": "more"}'))
    request = llm_parse("payment 좀 더 많이 띄워 둬", SETTINGS, transport=fake)
    assert (request.intent, request.app, request.delta, request.language) == (Intent.SCALE_BY, "payment", 2, "ko")
    url, body, headers, timeout = fake.calls[0]
    assert url == "http://llm.invalid/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "tiny" and body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][1] == {"role": "user", "content": "payment 좀 더 많이 띄워 둬"}
    assert "scale_by" in body["messages"][0]["content"]
    assert timeout == SETTINGS.timeout


def test_a_fenced_answer_is_accepted() -> None:
    fake = FakeTransport(completion('```json\n{"intent": "restart", "app": "payment"}\n```'))
    assert llm_parse("bounce it, payment", SETTINGS, transport=fake).intent is Intent.RESTART


@pytest.mark.parametrize(
    "content",
    [
        '{"intent": "format_disk", "app": "payment"}',  # unknown intent
        '{"intent": "delete", "app": "payment", "command": "rm -rf /"}',  # unknown field
        '{"intent": "scale", "app": "payment", "replicas": 99999}',  # out of range
        '{"intent": "run_app", "app": "Bad Name"}',  # not a Kubernetes name
        "Sure! I will scale payment.",  # not JSON
    ],
)
def test_invalid_answers_are_refused(content: str) -> None:
    with pytest.raises(LLMError):
        llm_parse("whatever", SETTINGS, transport=FakeTransport(completion(content)))


def test_null_intent_means_not_understood() -> None:
    with pytest.raises(NotUnderstood):
        llm_parse("what's the weather", SETTINGS, transport=FakeTransport(completion('{"intent": null}')))


def test_a_malformed_completion_is_an_error() -> None:
    with pytest.raises(LLMError):
        llm_parse("x", SETTINGS, transport=FakeTransport(b'{"error": "quota"}'))


class _Handler(BaseHTTPRequestHandler):
    status = 200
    answer = completion('{"intent": "list", "kind": "pods"}')
    seen: list[dict[str, Any]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.seen.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), **json.loads(self.rfile.read(length))}
        )
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.answer if self.status == 200 else b'{"error": "boom"}')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"seen": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_over_http_on_loopback(endpoint: tuple[str, type[_Handler]]) -> None:
    url, handler = endpoint
    request = llm_parse("list the little pods please", LLMSettings(base_url=url, api_key=None, model="m"))
    assert (request.intent, request.kind) == (Intent.LIST, "pods")
    assert handler.seen[0]["path"] == "/v1/chat/completions"
    assert handler.seen[0]["auth"] is None  # no key, no header


def test_http_errors_are_llm_errors(endpoint: tuple[str, type[_Handler]]) -> None:
    url, handler = endpoint
    handler.status = 500
    with pytest.raises(LLMError, match="500"):
        llm_parse("x", LLMSettings(base_url=url, api_key="k", model="m"))


def test_an_unreachable_endpoint_is_an_llm_error() -> None:
    with pytest.raises(LLMError, match="cannot reach"):
        llm_parse("x", LLMSettings(base_url="http://127.0.0.1:9/v1", api_key=None, model="m", timeout=2))
