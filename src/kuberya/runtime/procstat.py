"""Process facts from ``/proc``, for when there are no pod cgroups (not root) — psutil-free.

A pod's processes are its containers' main processes and all their descendants (found from the
``ppid`` field of every ``/proc/<pid>/stat``). CPU is the sum of their user+system time plus what
their reaped children used (``cutime``/``cstime``), so short-lived helpers still count; memory is
the sum of resident set sizes, an over-estimate of the working set (shared pages count once per
process) that is good enough where nothing better exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    cpu_ticks: int
    """utime + stime + cutime + cstime."""
    start_ticks: int
    rss_bytes: int


def read_stat(pid: int) -> ProcStat | None:
    """One process's stat line, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        cpu_ticks=sum(int(f) for f in fields[11:15]),
        start_ticks=int(fields[19]),
        rss_bytes=int(fields[21]) * _PAGE,
    )


def is_same_process(pid: int, start_ticks: int | None) -> bool:
    """True when ``pid`` is alive and is still the process that started at ``start_ticks``."""
    stat = read_stat(pid)
    return stat is not None and (start_ticks is None or stat.start_ticks == start_ticks)


def tree(roots: Iterable[int]) -> list[ProcStat]:
    """The processes ``roots`` and all their descendants."""
    stats = [s for name in os.listdir("/proc") if name.isdigit() and (s := read_stat(int(name))) is not None]
    children: dict[int, list[ProcStat]] = {}
    by_pid = {s.pid: s for s in stats}
    for s in stats:
        children.setdefault(s.ppid, []).append(s)
    found: dict[int, ProcStat] = {}
    pending = [by_pid[pid] for pid in roots if pid in by_pid]
    while pending:
        current = pending.pop()
        if current.pid not in found:
            found[current.pid] = current
            pending.extend(children.get(current.pid, ()))
    return list(found.values())


def tree_usage(roots: Iterable[int]) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of ``roots`` and their descendants."""
    processes = tree(roots)
    return sum(p.cpu_ticks for p in processes) / _TICKS, sum(p.rss_bytes for p in processes)
