"""Building one-line status texts whose styled runs never start with a space.

SVG renderers such as rsvg drop the leading spaces of a text run (Textual's SVG export writes
one run per style), so "tcp 900s  tcpfin" rendered as "tcp 900stcpfin". ``glued`` gives the
leading spaces of each part the style of the part before them instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.widgets import Static

from lvstop.safetext import escape_controls

Part = tuple[str, Style | None]


def glued(parts: Iterable[Part]) -> Text:
    runs: list[list[Any]] = []  # [text, style]; neighbours of one style merged (fewer bytes)

    def add(chunk: str, style: Style | None) -> None:
        if runs and runs[-1][1] == style:
            runs[-1][0] += chunk
        else:
            runs.append([chunk, style])

    for raw, style in parts:
        # parts quote host and interface names: controls are shown, not sent
        chunk = escape_controls(raw, keep_newlines=False)
        body = chunk.lstrip(" ")
        if len(body) < len(chunk):
            add(" " * (len(chunk) - len(body)), runs[-1][1] if runs else None)
        if body:
            add(body, style)
    text = Text(no_wrap=True, overflow="ellipsis")
    for chunk, style in runs:
        text.append(chunk, style)
    return text


#: a part's text and the component class that styles it (None: the widget's own style)
NamedPart = tuple[str, str | None]


class PartsLine(Static):
    """A status line made of NamedParts. A component class's style exists only once the
    stylesheet has reached the widget, so styles are looked up in ``render``, never when the
    data arrives: a poll result can come first on a slow start (a KeyError traceback once)."""

    def __init__(self, initial: str, *, id: str | None) -> None:
        super().__init__(initial, id=id)
        self._parts: tuple[NamedPart, ...] | None = None

    def show_parts(self, parts: Iterable[NamedPart]) -> None:
        shown = tuple(parts)
        if shown != self._parts:  # nothing shown changed: zero bytes to the terminal
            self._parts = shown
            self.refresh(layout=True)

    def render(self) -> RenderResult:
        if self._parts is None:
            return super().render()
        return glued(
            (chunk, None if name is None else self.get_component_rich_style(name, partial=True))
            for chunk, name in self._parts
        )
