"""The SPDY/3.1 codec: the dictionary, header blocks, every frame type, and a real kubectl stream."""

from __future__ import annotations

import struct
import zlib

import pytest

from kuberya.apiserver import spdy


def test_dictionary_is_the_spdy3_one() -> None:
    # Draft 3 §2.6.10.1: 1423 bytes. The Adler-32 is the DICTID every SPDY/3 zlib stream names,
    # so a wrong byte anywhere would make kubectl's header blocks undecodable.
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_header_block_round_trip_lowercases_names_and_joins_values() -> None:
    block = spdy.pack_header_block({"StreamType": ["data"], "port": ["8080"], "x-multi": ["a", "b"]})
    assert block[:4] == struct.pack(">I", 3)
    assert b"streamtype" in block and b"a\x00b" in block
    assert spdy.unpack_header_block(block) == {"streamtype": ["data"], "port": ["8080"], "x-multi": ["a", "b"]}


def test_truncated_header_block_is_a_protocol_error() -> None:
    block = spdy.pack_header_block({"port": ["8080"]})
    with pytest.raises(spdy.ProtocolError):
        spdy.unpack_header_block(block[:-2])


FRAMES: list[spdy.Frame] = [
    spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}, priority=3),
    spdy.SynStream(3, {"streamtype": ["data"], "port": ["80"], "requestid": ["0"]}, fin=True, unidirectional=True),
    spdy.SynReply(1, {}),
    spdy.SynReply(3, {"a": ["b"]}, fin=True),
    spdy.HeadersFrame(3, {"trailer": ["x"]}, fin=True),
    spdy.DataFrame(3, b"GET / HTTP/1.1\r\n\r\n"),
    spdy.DataFrame(3, b"", fin=True),
    spdy.RstStream(5, spdy.CANCEL),
    spdy.Settings(((0, 7, 65536), (1, 4, 100)), clear=True),
    spdy.Ping(7),
    spdy.GoAway(3, spdy.GOAWAY_OK),
    spdy.WindowUpdate(0, 65536),
]


def test_every_frame_round_trips_through_one_connection() -> None:
    encoder, decoder = spdy.FrameEncoder(), spdy.FrameDecoder()
    wire = b"".join(encoder.encode(f) for f in FRAMES)
    assert decoder.feed(wire) == FRAMES


def test_decoder_waits_for_whole_frames() -> None:
    encoder, decoder = spdy.FrameEncoder(), spdy.FrameDecoder()
    wire = b"".join(encoder.encode(f) for f in FRAMES)
    out: list[spdy.Frame] = []
    for i in range(len(wire)):  # one byte at a time
        out += decoder.feed(wire[i : i + 1])
    assert out == FRAMES


def test_control_frame_layout() -> None:
    wire = spdy.FrameEncoder().encode(spdy.Ping(0x01020304))
    assert wire == bytes([0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4])
    data = spdy.FrameEncoder().encode(spdy.DataFrame(5, b"hi", fin=True))
    assert data == bytes([0, 0, 0, 5, 0x01, 0, 0, 2]) + b"hi"


def test_header_compression_is_one_stream_per_direction() -> None:
    # Go's framer keeps one zlib writer for the connection: a second block decodes only after the first.
    encoder = spdy.FrameEncoder()
    first = encoder.encode(spdy.SynReply(1, {"port": ["80"]}))
    second = encoder.encode(spdy.SynReply(3, {"port": ["80"]}))
    assert len(second) < len(first)  # the second refers back to the first
    decoder = spdy.FrameDecoder()
    assert decoder.feed(first + second) == [spdy.SynReply(1, {"port": ["80"]}), spdy.SynReply(3, {"port": ["80"]})]
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(second)


def test_wrong_version_and_garbage_are_protocol_errors() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(bytes([0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]))
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(bytes([0x80, 0x03, 0x00, 0x01, 0, 0, 0, 14]) + b"\0" * 10 + b"zzzz")


def test_unknown_control_frames_are_passed_over() -> None:
    frames = spdy.FrameDecoder().feed(bytes([0x80, 0x03, 0x00, 0x0A, 0, 0, 0, 2, 0xAB, 0xCD]))
    assert frames == [spdy.UnknownControl(10, 0, b"\xab\xcd")]


# A real kubectl 1.37 session over plain SPDY (KUBECTL_PORT_FORWARD_WEBSOCKETS=false), everything the
# client sent, captured on the server while `curl` went through `kubectl port-forward pod/web
# 18181:8080`. Go's zlib writer (BestCompression, the SPDY/3 dictionary) made these header blocks.
KUBECTL_CAPTURE = bytes.fromhex(
    "800300010000003e0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e01c60"
    "616061c0c0c0c0590489c64c50f2663400000000ffff0000000101000000800300010000001800000003000000000000"
    "c2aa19540e2512d60b000000ffff000000030000004f474554202f20485454502f312e310d0a486f73743a203132372e"
    "302e302e313a31383138310d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570743a202a2f"
    "2a0d0a0d0a0000000301000000"
)


def test_decodes_a_real_kubectl_stream() -> None:
    # The zlib header of the first block names the dictionary by its Adler-32.
    assert KUBECTL_CAPTURE[18:24] == b"\x78\xf9" + zlib.adler32(spdy.DICTIONARY).to_bytes(4, "big")
    frames = spdy.FrameDecoder().feed(KUBECTL_CAPTURE)
    pair = {"port": ["8080"], "requestid": ["0"]}
    assert frames[:3] == [
        spdy.SynStream(1, {"streamtype": ["error"], **pair}),
        spdy.DataFrame(1, b"", fin=True),  # kubectl half-closes its error stream at once
        spdy.SynStream(3, {"streamtype": ["data"], **pair}),
    ]
    request = frames[3]
    assert isinstance(request, spdy.DataFrame) and request.stream_id == 3
    assert request.data.startswith(b"GET / HTTP/1.1\r\n") and not request.fin
    assert frames[4:] == [spdy.DataFrame(3, b"", fin=True)]
