"""The ``kuberya demo`` command: its options, help and language, around :class:`~kuberya.demo.story.Demo`.

The CLI loads it lazily (``kuberya.demo.command:demo_command``), so that ``kuberya --help`` costs no
import of the demo. The narration language is ``--lang``, else the locale's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from kuberya.cli.options import default_data_dir
from kuberya.demo.output import Narrator
from kuberya.demo.story import Demo

DEMO_HELP = """\
Run the talk's demo end to end on the local cluster, narrated step by step.

\b
Starts the cluster if needed, builds the two example apps into images (real containers with
runc; --fast runs them from source instead), then, as the talk does:
  쿠버야 payment 앱을 3개 실행해줘            → Deployment ×3 + Service
  쿠버야 marvel-collection 파드 1개 실행해 줘  → one Pod
sends requests through the payment Service (spread over the 3 pods), scales to 5 and back,
rolls out payment:v2 under load with zero failed requests, and rolls back. Every step shows the
kubectl / kuberya commands that do the same. Needs a kuberya checkout's examples/ (--examples).

\b
The apps keep running afterwards (explore: kubectl --context kuberya get all); --clean-up
removes them at the end; `kuberya down` stops the cluster.

\b
Examples:
  kuberya demo                    # the full demo (~1-2 minutes after setup)
  kuberya demo --fast --lang ko   # no image builds, process runtime, Korean narration
"""


def language_from_env(env: dict[str, str] | os._Environ[str]) -> str:
    """Korean when the locale is (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, first set wins), else English."""
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key, "")
        if value:
            return "ko" if value.lower().startswith("ko") else "en"
    return "en"


@click.command("demo", help=DEMO_HELP)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The cluster's data dir [default: $KUBERYA_DATA_DIR, else ~/.local/share/kuberya].",
)
@click.option(
    "--lang",
    type=click.Choice(["ko", "en"]),
    default=None,
    help="Narration language [default: ko when $LANG starts with ko, else en]; the talk's lines are Korean.",
)
@click.option(
    "--fast", is_flag=True, help="Skip the slow parts: no image builds; apps run from source (process runtime)."
)
@click.option(
    "--keep/--clean-up",
    default=True,
    show_default=True,
    help="Leave the demo's apps running at the end (the default), or delete them.",
)
@click.option("--no-color", is_flag=True, help="No colours (also: $NO_COLOR).")
@click.option(
    "--examples",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The examples/ directory with payment and marvel-collection [default: found from here or the package].",
)
def demo_command(
    data_dir: Path | None, lang: str | None, fast: bool, keep: bool, no_color: bool, examples: Path | None
) -> None:
    from kuberya.demo.apps import find_examples

    language = lang or language_from_env(os.environ)
    if no_color:
        os.environ["NO_COLOR"] = "1"  # the ask output's consoles read it too
    narrator = Narrator(language=language, color=not no_color and not os.environ.get("NO_COLOR"))
    default = default_data_dir(os.environ, Path.home())
    root = data_dir.expanduser().absolute() if data_dir else default
    found = examples.absolute() if examples else find_examples(Path.cwd(), Path(__file__).resolve().parent)
    if found is None:
        narrator.error(
            "no examples/ directory with payment and marvel-collection here",
            "run it from a kuberya checkout, or pass --examples DIR",
        )
        sys.exit(1)
    demo = Demo(
        data_dir=root,
        examples=found,
        narrator=narrator,
        fast=fast,
        keep=keep,
        merge_kubeconfig=root == default,
        home=Path.home(),
        port=6443 if root == default else 0,
    )
    sys.exit(demo.run())


def register(group: click.Group) -> None:
    """Add ``demo`` to the ``kuberya`` group."""
    group.add_command(demo_command)
