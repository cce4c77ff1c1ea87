"""Building one-line status texts whose styled runs never start with a space.

SVG renderers such as rsvg drop the leading spaces of a text run (Textual's SVG export writes
one run per style), so "tcp 900s  tcpfin" rendered as "tcp 900stcpfin". ``glued`` gives the
leading spaces of each part the style of the part before them instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.style import Style
from rich.text import Text

Part = tuple[str, Style | None]


def glued(parts: Iterable[Part]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    previous: Style | None = None
    for chunk, style in parts:
        body = chunk.lstrip(" ")
        if len(body) < len(chunk):
            text.append(" " * (len(chunk) - len(body)), previous)
        if body:
            text.append(body, style)
            previous = style
    return text
