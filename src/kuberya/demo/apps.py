"""The demo's two apps: where their sources are, how they run, and what the demo adds to ``ask``'s plans.

``kuberya demo`` runs the talk's requests through ``kuberya ask``'s own pipeline, unchanged, and
then shapes what they create with one hook (:class:`DemoPreparer`, the plan runner's ``prepare``):

* **the production settings** of ``examples/<app>/k8s/deployment.yaml`` — named ``http`` port,
  readiness and liveness probes, the preStop pause, resources, ``maxUnavailable: 0`` — are merged
  into the Deployment or Pod that ``ask`` creates, exactly what ``kubectl apply -f
  examples/<app>/k8s/`` would have set. A bare ``kubectl create deployment`` has no readiness
  probe, so a rollout would send requests to pods that are not listening yet: the zero-failure
  rollout is the manifests' doing, and the demo says so;
* **with the process runtime** (no root for runc, or ``--fast``), images cannot run, so the
  container gets the app's command from source (``python3 examples/payment/serve.py``) and the
  version as ``VERSION`` in its environment, and the image name is only recorded;
* every object it creates carries the annotation :data:`DEMO_ANNOTATION`, so that the next run of
  the demo removes only what a demo made.

Because the process runtime ignores images, "set image payment:v2" there is a change of the
``VERSION`` variable too (:func:`set_image_patch`), shown as the extra ``kubectl set env``.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kuberya.nl import ImageFacts, Operation, Verb

if TYPE_CHECKING:
    from kuberya.cli.facts import ImageLookup

DEMO_ANNOTATION = "kuberya.dev/demo"
PYTHON_BASE = "python:3.11-kuberya"
"""The offline bases ``scripts/base-images`` builds (mmdebstrap) into the store."""
NODE_BASE = "node:kuberya"


@dataclass(frozen=True, slots=True)
class DemoApp:
    name: str
    directory: Path
    port: int
    command: tuple[str, ...]
    """How it runs from source: the program, then the script relative to ``directory``."""
    base: str
    """The ``BASE`` build argument: an offline base image with the app's interpreter."""

    @property
    def source_command(self) -> list[str]:
        program, script = self.command
        return [shutil.which(program) or program, str(self.directory / script)]

    def manifest(self) -> dict[str, Any]:
        """``k8s/deployment.yaml``, parsed."""
        import yaml

        doc = yaml.safe_load((self.directory / "k8s" / "deployment.yaml").read_text())
        if not isinstance(doc, dict):
            raise ValueError(f"{self.directory / 'k8s' / 'deployment.yaml'} is not a Deployment")
        return doc


def demo_apps(examples: Path) -> dict[str, DemoApp]:
    return {
        "payment": DemoApp("payment", examples / "payment", 8080, ("python3", "serve.py"), PYTHON_BASE),
        "marvel-collection": DemoApp(
            "marvel-collection", examples / "marvel-collection", 3000, ("node", "server.js"), NODE_BASE
        ),
    }


def find_examples(*starts: Path) -> Path | None:
    """The ``examples`` directory with both apps, looked for in and above each start."""
    for start in starts:
        for folder in [start, *start.parents]:
            candidate = folder / "examples"
            if (candidate / "payment" / "serve.py").is_file() and (candidate / "marvel-collection").is_dir():
                return candidate
    return None


@dataclass(frozen=True)
class DemoImages:
    """Which image ``ask`` finds for an app's bare name: its ``v1``.

    With built images (``store``), ``ask``'s own rule would take the newest tag, and ``payment:v2``
    is built before the talk runs v1: the demo pins ``v1`` and looks it up in the store. From
    source (no store), what a built image's config would say — the name and the exposed port —
    comes from the app itself, so that "run the payment app" plans the same Deployment and Service.
    """

    apps: Mapping[str, DemoApp]
    store: ImageLookup | None
    version: str = "v1"

    def local_image(self, name: str) -> ImageFacts | None:
        app = self.apps.get(name.split(":", 1)[0])
        if app is None:
            return self.store.local_image(name) if self.store is not None else None
        reference = name if ":" in name else f"{app.name}:{self.version}"
        if self.store is not None:
            return self.store.local_image(reference)
        return ImageFacts(reference=reference, exposed_ports=(app.port,))


@dataclass(frozen=True)
class DemoPreparer:
    """The plan runner's ``prepare`` hook: see the module docstring."""

    apps: Mapping[str, DemoApp]
    from_source: bool

    def __call__(self, op: Operation) -> Operation:
        if op.verb is not Verb.CREATE or op.body is None or op.name is None or op.name not in self.apps:
            return op
        body = copy.deepcopy(op.body)
        body.setdefault("metadata", {}).setdefault("annotations", {})[DEMO_ANNOTATION] = "true"
        app = self.apps[op.name]
        if op.resource == "deployments":
            manifest = app.manifest()
            spec = body.setdefault("spec", {})
            spec["strategy"] = copy.deepcopy((manifest.get("spec") or {}).get("strategy") or spec.get("strategy"))
            self._pod_spec(app, spec["template"]["spec"], manifest, image=_image_of(spec["template"]["spec"]))
        elif op.resource == "pods":
            self._pod_spec(app, body["spec"], app.manifest(), image=_image_of(body["spec"]))
        return replace(op, body=body)

    def _pod_spec(self, app: DemoApp, pod_spec: dict[str, Any], manifest: dict[str, Any], *, image: str) -> None:
        template = ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
        wanted = (template.get("containers") or [{}])[0]
        pod_spec["terminationGracePeriodSeconds"] = template.get("terminationGracePeriodSeconds", 30)
        container = pod_spec["containers"][0]
        for key in ("ports", "env", "resources", "readinessProbe", "livenessProbe", "lifecycle"):
            if key in wanted:
                container[key] = copy.deepcopy(wanted[key])
        if self.from_source:
            container["command"] = app.source_command
            container["workingDir"] = str(app.directory)
            container.setdefault("env", []).append({"name": "VERSION", "value": version_of(image)})
        elif "securityContext" in wanted:
            container["securityContext"] = copy.deepcopy(wanted["securityContext"])


def _image_of(pod_spec: dict[str, Any]) -> str:
    return str(((pod_spec.get("containers") or [{}])[0]).get("image") or "")


def version_of(image: str) -> str:
    """``payment:v2`` → ``v2`` (``latest`` without a tag)."""
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def set_image_patch(container: str, image: str, *, from_source: bool) -> dict[str, Any]:
    """The strategic-merge patch of ``kubectl set image`` (plus ``set env VERSION=`` from source)."""
    entry: dict[str, Any] = {"name": container, "image": image}
    if from_source:
        entry["env"] = [{"name": "VERSION", "value": version_of(image)}]
    return {"spec": {"template": {"spec": {"containers": [entry]}}}}


def is_demo_object(obj: Mapping[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(DEMO_ANNOTATION) == "true"
