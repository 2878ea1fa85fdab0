import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kuberya.client import ExpiredError, GoneError
from kuberya.client.watch import WatchDecodeError, WatchDecoder, WatchEvent, decode_line, raise_for_error


def line(kind: str, rv: str, name: str = "p") -> bytes:
    obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "resourceVersion": rv}}
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


STREAM = line("ADDED", "1") + line("MODIFIED", "2") + b"\n" + line("DELETED", "3") + line("BOOKMARK", "7")


def test_events_split_across_chunks_are_reassembled() -> None:
    decoder = WatchDecoder()
    events: list[WatchEvent] = []
    for i in range(0, len(STREAM), 7):
        events.extend(decoder.feed(STREAM[i : i + 7]))
    events.extend(decoder.close())
    assert [(e.type, e.resource_version) for e in events] == [
        ("ADDED", "1"),
        ("MODIFIED", "2"),
        ("DELETED", "3"),
        ("BOOKMARK", "7"),
    ]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    decoder = WatchDecoder()
    events = [e for a, b in itertools.pairwise(bounds) for e in decoder.feed(STREAM[a:b])]
    events.extend(decoder.close())
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


def test_a_last_line_without_newline_is_decoded_at_close() -> None:
    decoder = WatchDecoder()
    assert list(decoder.feed(line("ADDED", "1").rstrip(b"\n"))) == []
    assert [e.type for e in decoder.close()] == ["ADDED"]
    assert list(decoder.close()) == []


def test_garbage_is_refused() -> None:
    with pytest.raises(WatchDecodeError):
        decode_line(b"not json")
    with pytest.raises(WatchDecodeError):
        decode_line(b'{"type":"SOMETHING","object":{}}')
    with pytest.raises(WatchDecodeError):
        decode_line(b'{"type":"ADDED","object":[]}')
    assert decode_line(b"  ") is None


def test_an_error_event_with_410_raises_expired() -> None:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": "too old resource version: 5 (900)",
        "reason": "Expired",
        "code": 410,
    }
    event = decode_line(json.dumps({"type": "ERROR", "object": status}))
    assert event is not None
    with pytest.raises(ExpiredError) as info:
        raise_for_error(event)
    assert isinstance(info.value, GoneError)
    assert info.value.status == 410
    assert "too old resource version" in str(info.value)


def test_other_events_pass_raise_for_error() -> None:
    event = decode_line(line("ADDED", "1"))
    assert event is not None
    raise_for_error(event)
