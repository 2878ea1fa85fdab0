"""Container runtimes behind one protocol (:mod:`kuberya.runtime.base`), chosen by name.

Like uvicorn's ``Config.load()``, a small registry maps a runtime's name to ``"module:Class"``
and imports it only when asked for, so choosing ``process`` never loads runc's machinery. The
registry holds the production runtimes only: a test double (:mod:`kuberya.runtime.fake`) is
registered by the tests that want it by name. ``runc`` is the default where it can run (root,
and ``runc`` on PATH); otherwise ``process``, and :func:`runtime_choice_reason` says why, for ``kuberya up`` to print.
The node serves the other of :data:`HANDLERS` next to its default where :func:`handler_unavailable`
says it can (:mod:`kuberya.runtime.handlers` routes between them).
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kuberya.runtime.base import ContainerRuntime, NotFoundError, RuntimeError_

if TYPE_CHECKING:
    from kuberya.runtime.runc import ImageResolver

__all__ = [
    "HANDLERS",
    "RUNTIMES",
    "ContainerRuntime",
    "NotFoundError",
    "RuntimeError_",
    "UnknownRuntimeError",
    "default_runtime_name",
    "handler_unavailable",
    "open_runtime",
    "runtime_choice_reason",
]

RUNTIMES: dict[str, str] = {
    "runc": "kuberya.runtime.runc:open_runc_runtime",
    "process": "kuberya.runtime.process:open_process_runtime",
}
"""Name → ``module:factory``. ``runc`` and ``process`` take the keyword arguments of
:func:`open_runtime` that concern them; any other registered factory (a test's double) takes none."""


class UnknownRuntimeError(RuntimeError_):
    """No runtime by that name (or it is not available on this build)."""


HANDLERS = ("runc", "process")
"""The RuntimeClass handlers a node serves side by side where this machine can run them."""


def handler_unavailable(name: str) -> str | None:
    """Why this machine cannot run the runtime ``name`` next to another one; None when it can.

    runc needs root and the runc binary; the process runtime runs everywhere.
    """
    if name not in RUNTIMES:
        return f"unknown runtime {name!r}"
    if name == "runc":
        if shutil.which("runc") is None:
            return "runc not found on PATH"
        if os.geteuid() != 0:
            return f"runc needs root, running as uid {os.geteuid()}"
    return None


def _runtime_choice() -> tuple[str, str]:
    runc = shutil.which("runc")
    if runc is None:
        return "process", "process: runc not found on PATH"
    if os.geteuid() != 0:
        return "process", f"process: runc at {runc} needs root (running as uid {os.geteuid()})"
    return "runc", f"runc: running as root with runc at {runc}"


def default_runtime_name() -> str:
    """The runtime ``kuberya up`` uses when none is named: ``runc`` as root with runc, else ``process``."""
    return _runtime_choice()[0]


def runtime_choice_reason() -> str:
    """Which runtime :func:`default_runtime_name` picks and why, in one line for the CLI."""
    return _runtime_choice()[1]


def open_runtime(
    name: str,
    *,
    state_dir: Path,
    pod_cidr: str | None = None,
    image_resolver: ImageResolver | None = None,
    rootless_network: bool = False,
    plugin_path: str | None = None,
) -> ContainerRuntime:
    """Make (but don't start) the runtime called ``name``; its state lives under ``state_dir``.

    ``image_resolver`` (runc only) turns an image reference into its layers and config; without one
    runc reads the image store next to ``state_dir`` (``<state_dir>/../images``).
    ``rootless_network`` (process only) gives pods the rootless network even as root
    (:mod:`kuberya.runtime.rootless`; without root it is the default anyway). ``plugin_path`` is
    the ``PATH`` the pod network's CNI plugins run with (the server's; None: a standard one).
    """
    target = RUNTIMES.get(name)
    if target is None:
        known = ", ".join(sorted(RUNTIMES))
        raise UnknownRuntimeError(f"unknown runtime {name!r}: expected one of {known}")
    if rootless_network and name != "process":
        raise RuntimeError_(f"the rootless pod network is the process runtime's, not {name}'s")
    module_name, _, factory_name = target.partition(":")
    factory: Any = getattr(importlib.import_module(module_name), factory_name)
    runtime: ContainerRuntime
    if name == "runc":
        runtime = factory(
            state_dir=state_dir, pod_cidr=pod_cidr, image_resolver=image_resolver, plugin_path=plugin_path
        )
    elif name == "process":
        runtime = factory(
            state_dir=state_dir, pod_cidr=pod_cidr, rootless_network=rootless_network, plugin_path=plugin_path
        )
    else:
        runtime = factory()
    return runtime
