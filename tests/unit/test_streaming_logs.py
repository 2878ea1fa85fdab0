"""The node agent's CRI log reading: joining partial records, tail, timestamps, since, limitBytes, follow."""

from __future__ import annotations

import asyncio
import io
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kuberya.meta.timefmt import parse_rfc3339_ns
from kuberya.node.logreading import (
    LogFormatter,
    LogOptions,
    go_rfc3339nano,
    read_log,
    tail_offset,
)
from kuberya.runtime.crilog import format_cri_line

T0 = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z


def cri(seconds: float, stream: str, text: str, *, partial: bool = False) -> bytes:
    return format_cri_line(T0 + int(seconds * 1e9), stream, partial, text.encode())


LOG = (
    cri(0, "stdout", "hello")
    + cri(1, "stderr", "err")
    + cri(2, "stdout", "a long ", partial=True)
    + cri(2.5, "stdout", "line", partial=True)
    + cri(3, "stdout", " ends")
    + cri(4, "stdout", "")
    + cri(5, "stdout", "last")
)
TEXT = b"hello\nerr\na long line ends\n\nlast\n"


def run(data: bytes, **options: object) -> bytes:
    formatter = LogFormatter(**options)  # type: ignore[arg-type]
    out = b""
    for line in data.split(b"\n")[:-1]:  # what follows the last newline is still being written
        out += b"".join(text for _, text in formatter.feed(line))
    return out + b"".join(text for _, text in formatter.flush())


def test_rfc3339_parsing_and_go_formatting() -> None:
    assert parse_rfc3339_ns("2026-01-01T00:00:00Z") == T0
    assert parse_rfc3339_ns("2026-01-01T00:00:00.5Z") == T0 + 500_000_000
    assert parse_rfc3339_ns("2026-01-01T00:00:00.000000001Z") == T0 + 1
    assert parse_rfc3339_ns("2026-01-01T09:00:00+09:00") == T0
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339_ns("yesterday")
    assert go_rfc3339nano("2026-01-01T00:00:00.120000000Z") == "2026-01-01T00:00:00.12Z"
    assert go_rfc3339nano("2026-01-01T00:00:00.000000000Z") == "2026-01-01T00:00:00Z"
    assert go_rfc3339nano("2026-01-01T00:00:00.123456789Z") == "2026-01-01T00:00:00.123456789Z"


def test_partial_records_are_joined_and_both_streams_kept() -> None:
    assert run(LOG) == TEXT


def test_timestamps_prefix_each_line_with_its_first_piece_time() -> None:
    out = run(LOG, timestamps=True).splitlines()
    assert out[0] == b"2026-01-01T00:00:00Z hello"
    assert out[1] == b"2026-01-01T00:00:01Z err"
    assert out[2] == b"2026-01-01T00:00:02Z a long line ends"
    assert out[3] == b"2026-01-01T00:00:04Z "


def test_since_filters_by_record_time() -> None:
    assert run(LOG, since_ns=T0 + 2_000_000_000) == b"a long line ends\n\nlast\n"
    assert run(LOG, since_ns=T0 + 10_000_000_000) == b""


def test_limit_bytes_cuts_the_output_including_timestamps() -> None:
    assert run(LOG, limit_bytes=8) == b"hello\ner"
    formatter = LogFormatter(limit_bytes=3)
    assert formatter.feed(cri(0, "stdout", "hello")) == [("stdout", b"hel")]
    assert formatter.exhausted
    assert formatter.feed(cri(0, "stdout", "more")) == []
    assert run(LOG, timestamps=True, limit_bytes=21) == b"2026-01-01T00:00:00Z "


def test_stream_selection_and_malformed_lines() -> None:
    assert run(LOG, streams=frozenset({"stderr"})) == b"err\n"
    assert run(b"garbage\n" + cri(0, "stdout", "ok")) == b"ok\n"


def test_an_unfinished_partial_line_is_flushed_without_newline() -> None:
    assert run(cri(0, "stdout", "x") + cri(1, "stdout", "no newline", partial=True)) == b"x\nno newline"


def test_huge_partial_lines_are_written_in_parts() -> None:
    piece = "y" * 600_000
    formatter = LogFormatter(timestamps=True)
    assert formatter.feed(cri(0, "stdout", piece, partial=True)) == []
    first = formatter.feed(cri(1, "stdout", piece, partial=True))
    assert len(first) == 1 and first[0][1].startswith(b"2026-01-01T00:00:00Z yyy")
    last = formatter.feed(cri(2, "stdout", "end"))
    assert last == [("stdout", b"end\n")]  # no second timestamp in the middle of the line


def tail(data: bytes, n: int) -> bytes:
    f = io.BytesIO(data)
    start = tail_offset(f, n)
    return run(data[start:])


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, b""),
        (1, b"last\n"),
        (2, b"\nlast\n"),
        (3, b"a long line ends\n\nlast\n"),
        (4, b"err\na long line ends\n\nlast\n"),
        (5, TEXT),
        (50, TEXT),
    ],
)
def test_tail_counts_whole_records(n: int, expected: bytes) -> None:
    assert tail(LOG, n) == expected


def test_tail_ignores_a_line_still_being_written_and_counts_a_trailing_partial_record() -> None:
    being_written = LOG + b"2026-01-01T00:00:09.000000000Z stdout F half"
    assert tail(being_written, 1) == b"last\n"
    trailing_partial = LOG + cri(6, "stdout", "unfinished", partial=True)
    assert tail(trailing_partial, 1) == b"unfinished"
    assert tail(trailing_partial, 2) == b"last\nunfinished"


@given(
    st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]), st.text(max_size=30), st.booleans()), max_size=40),
    st.integers(min_value=0, max_value=45),
)
def test_tail_matches_the_last_records_of_a_full_read(records: list[tuple[str, str, bool]], n: int) -> None:
    data = b"".join(
        # Shims never write an empty P piece: a partial piece holds at least one byte.
        format_cri_line(T0 + i, "stdout", partial, (text.replace("\n", " ") or ("x" if partial else "")).encode())
        for i, (_, text, partial) in enumerate(records)
    )
    # A record is an output line, or the unfinished partial one at the end.
    shown = re.findall(b"[^\n]*\n|[^\n]+$", run(data))
    expected = b"".join(shown[-n:]) if n else b""
    assert tail(data, n) == expected


def test_tail_reads_backwards_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    lines = [cri(i, "stdout", f"line {i} " + "z" * 300) for i in range(1000)]
    path.write_bytes(b"".join(lines))
    with path.open("rb") as f:
        start = tail_offset(f, 3)
    assert path.read_bytes()[start:] == b"".join(lines[-3:])


def test_options_from_query() -> None:
    now = T0 + 100 * 1_000_000_000
    opts = LogOptions.from_query({"follow": "true", "tailLines": "5", "sinceSeconds": "10"}, now_ns=now)
    assert opts.follow and opts.tail_lines == 5 and opts.since_ns == T0 + 90 * 1_000_000_000
    assert LogOptions.from_query({"sinceTime": "2026-01-01T00:00:00Z"}, now_ns=now).since_ns == T0
    assert LogOptions.from_query({"stream": "Stderr"}, now_ns=now).streams == frozenset({"stderr"})
    for bad in ({"tailLines": "-1"}, {"limitBytes": "0"}, {"tailLines": "x"}, {"stream": "both"}):
        with pytest.raises(ValueError):
            LogOptions.from_query(bad, now_ns=now)
    with pytest.raises(ValueError, match="at most one"):
        LogOptions.from_query({"sinceSeconds": "1", "sinceTime": "2026-01-01T00:00:00Z"}, now_ns=now)


async def collect(path: Path, options: LogOptions, running: list[bool]) -> bytes:
    out = b""
    async for _, data in read_log(path, options, is_running=lambda: running[0], poll_interval=0.01):
        out += data
    return out


async def test_read_log_without_follow_reads_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(LOG)
    assert await collect(path, LogOptions(), [True]) == TEXT
    assert await collect(path, LogOptions(tail_lines=1, timestamps=True), [True]) == b"2026-01-01T00:00:05Z last\n"
    assert await collect(tmp_path / "missing.log", LogOptions(follow=True), [False]) == b""


async def test_follow_streams_new_lines_until_the_container_exits(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(cri(0, "stdout", "one"))
    running = [True]
    received: list[bytes] = []

    async def follow() -> None:
        async for _, data in read_log(path, LogOptions(follow=True), is_running=lambda: running[0], poll_interval=0.01):
            received.append(data)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    assert received == [b"one\n"]
    with path.open("ab") as f:
        f.write(cri(1, "stdout", "two"))
    await asyncio.sleep(0.05)
    assert received == [b"one\n", b"two\n"]
    with path.open("ab") as f:
        f.write(cri(2, "stdout", "three"))
    running[0] = False  # exits right after writing: the last line is still read
    await asyncio.wait_for(task, 1)
    assert received == [b"one\n", b"two\n", b"three\n"]


async def test_follow_waits_for_the_file_and_follows_rotation(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    running = [True]
    task = asyncio.create_task(collect(path, LogOptions(follow=True), running))
    await asyncio.sleep(0.03)
    path.write_bytes(cri(0, "stdout", "before"))
    await asyncio.sleep(0.05)
    with path.open("ab") as f:
        f.write(cri(1, "stdout", "late write to the old file"))
    os.rename(path, tmp_path / "0.log.20260101-000000")
    path.write_bytes(cri(2, "stdout", "after rotation"))
    await asyncio.sleep(0.05)
    path.write_bytes(b"")  # copytruncate-style: the same inode, emptied, then written again
    await asyncio.sleep(0.05)
    with path.open("ab") as f:
        f.write(cri(3, "stdout", "truncated and rewritten"))
    await asyncio.sleep(0.05)
    running[0] = False
    out = await asyncio.wait_for(task, 1)
    assert out == b"before\nlate write to the old file\nafter rotation\ntruncated and rewritten\n"
