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
