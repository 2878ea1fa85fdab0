"""How ``kuberya demo`` tells its story: numbered sections, the talk's lines, commands, spinners, timings.

One :class:`Narrator` prints everything the demo says, in the chosen language (``ko`` or ``en``);
the talk's own lines ("쿠버야 payment 앱을 3개 실행해줘") are always shown in Korean, with an
English translation when the narration is English. Every section shows the commands a person
would type for the same effect (``$ kubectl …``, ``$ kuberya …``), so the demo teaches them.

On a terminal, rich draws colours and a spinner while something is under way; without one (a
pipe, a CI log, the e2e test) every line is plain text and a spinner is a single "…" line, so
the output reads the same in a log. ``--no-color`` keeps the layout and drops the colours.
"""

from __future__ import annotations

import sys
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

TOTAL_STEPS = 9


def _width(text: str) -> int:
    """Columns on a terminal: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


class Narrator:
    """Everything the demo prints; see the module docstring."""

    def __init__(self, *, language: str, color: bool, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.language = language
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.color = color
        self._console: Any = None
        self._status: Any = None
        self.step_started = time.monotonic()

    def say(self, ko: str, en: str) -> str:
        return ko if self.language == "ko" else en

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console  # only a terminal pays for importing rich

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True, no_color=not self.color)
        return self._console

    def _line(self, rich_text: str, plain: str) -> None:
        if self.tty:
            self.console.print(rich_text)
        else:
            print(plain, file=self.stream, flush=True)

    # -- structure --------------------------------------------------------------------------------

    def title(self, text: str, subtitle: str) -> None:
        self._line(f"[bold magenta]{_escape(text)}[/]", text)
        self._line(f"[dim]{_escape(subtitle)}[/]", subtitle)

    def section(self, number: int, ko: str, en: str) -> None:
        """Start step ``number``: a blank line, then ``[3/9] title``."""
        self.step_started = time.monotonic()
        title = self.say(ko, en)
        self._line("", "")
        self._line(
            f"[bold cyan]\\[{number}/{TOTAL_STEPS}][/] [bold]{_escape(title)}[/]", f"[{number}/{TOTAL_STEPS}] {title}"
        )

    def elapsed(self) -> None:
        """The time the current section took."""
        seconds = time.monotonic() - self.step_started
        text = self.say(f"{seconds:.1f}초", f"{seconds:.1f}s")
        self._line(f"  [dim]⏱ {text}[/]", f"  ⏱ {text}")

    # -- lines ------------------------------------------------------------------------------------

    def talk(self, korean: str, english: str) -> None:
        """A line of the talk: always in Korean; translated when the narration is English."""
        self._line(f'  [bold yellow]🗣  "{_escape(korean)}"[/]', f'  🗣  "{korean}"')
        if self.language != "ko":
            self._line(f"     [dim]({_escape(english)})[/]", f"     ({english})")

    def text(self, ko: str, en: str) -> None:
        text = self.say(ko, en)
        self._line(f"  {_escape(text)}", f"  {text}")

    def command(self, text: str) -> None:
        """A command a person would type for the same effect."""
        self._line(f"  [green]$ {_escape(text)}[/]", f"  $ {text}")

    def success(self, ko: str, en: str) -> None:
        text = self.say(ko, en)
        self._line(f"  [bold green]✓[/] {_escape(text)}", f"  ✓ {text}")

    def note(self, ko: str, en: str) -> None:
        text = self.say(ko, en)
        self._line(f"  [dim]· {_escape(text)}[/]", f"  · {text}")

    def warning(self, ko: str, en: str) -> None:
        text = self.say(ko, en)
        self._line(f"  [bold yellow]![/] {_escape(text)}", f"  ! {text}")

    def error(self, text: str, hint: str | None = None) -> None:
        self._line(f"[bold red]✗[/] {_escape(text)}", f"✗ {text}")
        if hint:
            self._line(f"  [yellow]→ {_escape(hint)}[/]", f"  → {hint}")

    def table(self, headers: list[str], rows: list[list[str]]) -> None:
        """Kubectl's layout: left-aligned columns, three spaces apart, indented under the section."""
        widths = [max(_width(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
        for n, row in enumerate([headers, *rows]):
            plain = "   ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=True)).rstrip()
            self._line(f"  [bold]{_escape(plain)}[/]" if n == 0 else f"  {_escape(plain)}", f"  {plain}")

    # -- under way ----------------------------------------------------------------------------------

    @contextmanager
    def spinner(self, ko: str, en: str) -> Iterator[None]:
        """A spinner while the block runs (a terminal); one "…" line otherwise."""
        text = self.say(ko, en)
        if not self.tty:
            print(f"  … {text}", file=self.stream, flush=True)
            yield
            return
        with self.console.status(f"[cyan]{_escape(text)}[/]", spinner="dots") as status:
            self._status = status
            try:
                yield
            finally:
                self._status = None

    def progress(self, text: str) -> None:
        """News from inside a spinner (a build step): the spinner's text, or a plain line."""
        if self._status is not None:
            self._status.update(f"[cyan]{_escape(text)}[/]")
        elif not self.tty:
            print(f"    {text}", file=self.stream, flush=True)
