"""Container runtimes behind one protocol (:mod:`kuberya.runtime.base`), chosen by name.

Like uvicorn's ``Config.load()``, a small registry maps a runtime's name to ``"module:Class"``
and imports it only when asked for, so choosing ``fake`` never loads the process runtime's
machinery (and a future ``runc`` needs nothing until it is picked).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from kuberya.runtime.base import ContainerRuntime, NotFoundError, RuntimeError_

__all__ = [
    "RUNTIMES",
    "ContainerRuntime",
    "NotFoundError",
    "RuntimeError_",
    "UnknownRuntimeError",
    "default_runtime_name",
    "open_runtime",
]

RUNTIMES: dict[str, str] = {
    "process": "kuberya.runtime.process:open_process_runtime",
    "fake": "kuberya.runtime.fake:FakeRuntime",
}
"""Name → ``module:factory``; each factory takes the keyword arguments of :func:`open_runtime`."""

_RESERVED = {"runc": "runtime runc is not available yet: use --runtime process"}


class UnknownRuntimeError(RuntimeError_):
    """No runtime by that name (or it is not available on this build)."""


def default_runtime_name() -> str:
    """The runtime ``kuberya up`` uses when none is named (``runc`` once it exists)."""
    return "process"


def open_runtime(name: str, *, state_dir: Path, pod_cidr: str | None = None) -> ContainerRuntime:
    """Make (but don't start) the runtime called ``name``; its state lives under ``state_dir``."""
    if name in _RESERVED:
        raise UnknownRuntimeError(_RESERVED[name])
    target = RUNTIMES.get(name)
    if target is None:
        known = ", ".join(sorted([*RUNTIMES, *_RESERVED]))
        raise UnknownRuntimeError(f"unknown runtime {name!r}: expected one of {known}")
    module_name, _, factory_name = target.partition(":")
    factory: Any = getattr(importlib.import_module(module_name), factory_name)
    if name == "fake":
        runtime: ContainerRuntime = factory()
    else:
        runtime = factory(state_dir=state_dir, pod_cidr=pod_cidr)
    return runtime
