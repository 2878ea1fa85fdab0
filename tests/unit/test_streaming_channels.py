"""The Kubernetes channel protocol as the node agent speaks it: negotiation, framing, the final Status."""

from __future__ import annotations

import json

import pytest

from kuberya.node.channels import (
    CLOSE,
    ERROR,
    RESIZE,
    STDERR,
    STDIN,
    STDOUT,
    V4_BASE64_PROTOCOL,
    V4_PROTOCOL,
    V5_PROTOCOL,
    ChannelCodec,
    StreamOptions,
    choose_protocol,
    exit_status,
    internal_error_status,
    success_status,
)


def test_channel_numbers_are_upstreams() -> None:
    assert (STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE) == (0, 1, 2, 3, 4, 255)


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        ("v5.channel.k8s.io", V5_PROTOCOL),
        ("v5.channel.k8s.io,v4.channel.k8s.io", V5_PROTOCOL),  # the Python client's offer
        ("v4.channel.k8s.io, v5.channel.k8s.io", V5_PROTOCOL),  # v5 wins whatever the order
        ("v4.channel.k8s.io", V4_PROTOCOL),
        ("v4.base64.channel.k8s.io", V4_BASE64_PROTOCOL),
        ("channel.k8s.io,v3.channel.k8s.io", None),
        ("SPDY/3.1+portforward.k8s.io", None),
        ("", None),
    ],
)
def test_protocol_negotiation_prefers_v5(offered: str, chosen: str | None) -> None:
    assert choose_protocol(offered) == chosen


def test_binary_framing_is_one_channel_byte_then_the_payload() -> None:
    codec = ChannelCodec(V5_PROTOCOL)
    assert codec.encode(STDOUT, b"hi\n") == b"\x01hi\n"
    assert codec.decode(b"\x00input") == (STDIN, b"input")
    assert codec.decode(bytes([CLOSE, STDIN])) == (CLOSE, b"\x00")
    assert codec.decode(b'\x04{"Width":80,"Height":24}') == (RESIZE, b'{"Width":80,"Height":24}')
    assert codec.can_close_channels
    assert not ChannelCodec(V4_PROTOCOL).can_close_channels
    with pytest.raises(ValueError, match="empty"):
        codec.decode(b"")


def test_text_frames_from_the_python_client_are_taken_as_bytes() -> None:
    # kubernetes.stream.ws_client sends chr(channel) + data as a text frame when data is a str.
    assert ChannelCodec(V4_PROTOCOL).decode("\x00ls -l\n") == (STDIN, b"ls -l\n")
    assert ChannelCodec(V4_PROTOCOL).decode("\x00한글") == (STDIN, "한글".encode())


def test_base64_framing() -> None:
    codec = ChannelCodec(V4_BASE64_PROTOCOL)
    assert codec.encode(STDERR, b"\xff\x00oops") == "2/wBvb3Bz"
    assert codec.decode("0aGVsbG8=") == (STDIN, b"hello")
    with pytest.raises(ValueError):
        codec.decode("x")


def test_exit_statuses_are_exactly_the_kubelets() -> None:
    assert success_status() == {"metadata": {}, "status": "Success"}
    assert exit_status(0, ["true"]) == success_status()
    failure = exit_status(3, ["sh", "-c", "exit 3"])
    assert failure == {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    json.dumps(failure)  # serializable as is


def test_internal_error_status() -> None:
    status = internal_error_status("error executing command in container: no such file")
    assert status["status"] == "Failure" and status["reason"] == "InternalError" and status["code"] == 500
    assert status["message"] == "Internal error occurred: error executing command in container: no such file"


def test_stream_options_from_query() -> None:
    opts = StreamOptions.from_query({"stdin": "true", "stdout": "1", "stderr": "false"})
    assert opts == StreamOptions(stdin=True, stdout=True, stderr=False, tty=False)
