"""App detection for ``kuberya build`` without a Dockerfile: a Containerfile generated from the layout.

Rules, first match wins, each explained in :attr:`DetectedApp.reason` so ``--print`` shows why:

- **Python** (``requirements.txt`` or ``pyproject.toml``): dependencies installed with pip (the
  project itself with ``pip install .`` for a pyproject). The start command is a ``Procfile``'s
  ``web:`` line; else an ASGI app (``app = FastAPI(…)``, Starlette, Quart, Litestar…) in
  ``main.py``/``app.py``/… served by uvicorn as ``module:app``; else a WSGI app (Flask, Bottle,
  Falcon) served by gunicorn; else a ``__main__.py`` package or a script with
  ``if __name__ == "__main__"``. A server missing from the requirements is installed too.
- **Node.js** (``package.json`` with a ``start`` script): ``npm ci`` (with a lockfile) or
  ``npm install``, production dependencies only, then ``npm start``.
- **Static site** (``index.html`` at the top, or in ``public/``, ``dist/``, ``build/``, ``site/``):
  served by busybox ``httpd`` - a 1 MB image.

Every app listens on ``$PORT`` (8080); ``--base`` replaces the base image.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from kuberya.images.errors import BuildError

PORT = 8080
PYTHON_BASE = "docker.io/library/python:3.12-slim"
NODE_BASE = "docker.io/library/node:22-slim"
STATIC_BASE = "docker.io/library/busybox:stable"

_MODULE_CANDIDATES = ("main.py", "app.py", "server.py", "asgi.py", "wsgi.py", "api.py")
_ASGI = re.compile(r"^(?P<var>\w+)\s*=\s*(?:\w+\.)?(?:FastAPI|Starlette|Quart|Litestar|Sanic)\s*\(", re.MULTILINE)
_WSGI = re.compile(r"^(?P<var>\w+)\s*=\s*(?:\w+\.)?(?:Flask|Bottle|App|API)\s*\(", re.MULTILINE)
_MAIN_GUARD = re.compile(r"""^if\s+__name__\s*==\s*["']__main__["']\s*:""", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class DetectedApp:
    kind: str
    """``python``, ``node`` or ``static``."""
    containerfile: str
    reason: str
    """Why this kind and this start command, in a sentence."""


def detect(context: Path, *, base: str | None = None) -> DetectedApp:
    """The app in ``context`` and a Containerfile that builds it, or :class:`BuildError`."""
    if (context / "requirements.txt").is_file() or (context / "pyproject.toml").is_file():
        return _python(context, base or PYTHON_BASE)
    package = context / "package.json"
    if package.is_file():
        return _node(context, package, base or NODE_BASE)
    for folder in ("", "public", "dist", "build", "site"):
        if (context / folder / "index.html").is_file():
            return _static(folder, base or STATIC_BASE)
    raise BuildError(
        f"{context} has no Dockerfile and no app kuberya recognises: add a Dockerfile, or a requirements.txt "
        "/ pyproject.toml (Python), a package.json with a `start` script (Node.js), or an index.html (static)"
    )


def _python(context: Path, base: str) -> DetectedApp:
    requirements = _read(context / "requirements.txt") + _read(context / "pyproject.toml")
    has = {name: re.search(rf"(?im)^\W*{name}\b", requirements) is not None or f'"{name}' in requirements.lower()
           for name in ("uvicorn", "gunicorn")}  # fmt: skip
    extra: list[str] = []
    command, reason = _python_command(context)
    server = command[2].split()[1] if command[:2] == ["sh", "-c"] and command[2].startswith("exec ") else ""
    if server in has and not has[server]:
        extra.append(server)
    lines = [f"FROM {base}", "WORKDIR /app", f"ENV PORT={PORT} PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1"]
    if (context / "requirements.txt").is_file():
        lines += ["COPY requirements.txt ./", "RUN pip install --no-cache-dir -r requirements.txt"]
        lines += ["COPY . ."]
    else:
        lines += ["COPY . .", "RUN pip install --no-cache-dir ."]
    if extra:
        lines.append(f"RUN pip install --no-cache-dir {' '.join(extra)}")
    lines += [f"EXPOSE {PORT}", f"CMD {json.dumps(command)}"]
    return DetectedApp(kind="python", containerfile="\n".join(lines) + "\n", reason=reason)


def _python_command(context: Path) -> tuple[list[str], str]:
    procfile = context / "Procfile"
    for line in _read(procfile).splitlines():
        if line.startswith("web:"):
            return ["sh", "-c", line.removeprefix("web:").strip()], "Python app started by the Procfile's `web:` line"
    modules = [context / name for name in _MODULE_CANDIDATES if (context / name).is_file()]
    for path in modules:
        match = _ASGI.search(_read(path))
        if match:
            target = f"{path.stem}:{match.group('var')}"
            command = ["sh", "-c", f"exec uvicorn {target} --host 0.0.0.0 --port ${{PORT:-{PORT}}}"]
            return command, f"Python ASGI app `{target}` served by uvicorn"
    for path in modules:
        match = _WSGI.search(_read(path))
        if match:
            target = f"{path.stem}:{match.group('var')}"
            command = ["sh", "-c", f"exec gunicorn --bind 0.0.0.0:${{PORT:-{PORT}}} {target}"]
            return command, f"Python WSGI app `{target}` served by gunicorn"
    packages = sorted(p.parent.name for p in context.glob("*/__main__.py"))
    if (context / "__main__.py").is_file():
        return ["python", "."], "Python app run from its `__main__.py`"
    if packages:
        return ["python", "-m", packages[0]], f"Python package `{packages[0]}` run with `python -m`"
    for path in modules:
        if _MAIN_GUARD.search(_read(path)):
            return ["python", path.name], f"Python script `{path.name}` (it has a __main__ guard)"
    raise BuildError(
        f"{context} looks like a Python app but kuberya cannot tell how to start it: add a Procfile "
        "(`web: <command>`), an `app = FastAPI()`/`Flask(__name__)` in main.py or app.py, or a __main__.py"
    )


def _node(context: Path, package: Path, base: str) -> DetectedApp:
    try:
        doc = json.loads(package.read_text())
    except ValueError as e:
        raise BuildError(f"{package} is not valid JSON: {e}") from e
    start = (doc.get("scripts") or {}).get("start") if isinstance(doc, dict) else None
    if not start:
        raise BuildError(f'{package} has no `scripts.start`: add one (e.g. "start": "node server.js")')
    lock = (context / "package-lock.json").is_file() or (context / "npm-shrinkwrap.json").is_file()
    install = "npm ci --omit=dev" if lock else "npm install --omit=dev"
    lines = [
        f"FROM {base}", "WORKDIR /app", f"ENV PORT={PORT} NODE_ENV=production",
        "COPY package*.json ./", f"RUN {install}", "COPY . .", f"EXPOSE {PORT}", 'CMD ["npm", "start"]',
    ]  # fmt: skip
    return DetectedApp(
        kind="node", containerfile="\n".join(lines) + "\n", reason=f"Node.js app started by `npm start` ({start})"
    )


def _static(folder: str, base: str) -> DetectedApp:
    source = folder or "."
    lines = [
        f"FROM {base}", f"COPY {source} /www", f"EXPOSE {PORT}",
        f'CMD ["busybox", "httpd", "-f", "-v", "-p", "{PORT}", "-h", "/www"]',
    ]  # fmt: skip
    where = f"{folder}/index.html" if folder else "index.html"
    return DetectedApp(
        kind="static", containerfile="\n".join(lines) + "\n", reason=f"static site ({where}) served by busybox httpd"
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return ""
