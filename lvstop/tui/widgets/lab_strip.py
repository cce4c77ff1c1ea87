"""`lvstop top --lab` only: the lab's fault keys in a strip above the footer. Generated from
``keys.LAB_FAULTS``, so it never disagrees with them. At most two lines: where every key does
not fit (80 columns), one line lists the keys and points to `?`."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.widgets import Static

from lvstop.tui.keys import LAB_FAULTS

TITLE = "LAB "
MAX_LINES = 2


class LabStrip(Static):
    DEFAULT_CSS = """
    LabStrip { height: auto; max-height: 2; padding: 0 1; background: $boost; }
    LabStrip > .lab--key { color: $text-accent; text-style: bold; }
    LabStrip > .lab--title { color: $text-warning; text-style: bold; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"lab--key", "lab--title"}

    def __init__(self, *, id: str | None = "lab-strip") -> None:
        super().__init__("", id=id)
        self._width = -1
        self._lines: list[list[tuple[str, str]]] | None = None  # None: one line, keys only

    def on_resize(self, event: events.Resize) -> None:
        self._layout(event.size.width)

    def on_mount(self) -> None:
        self._layout(self.content_size.width or 80)

    def _layout(self, width: int) -> None:
        if width == self._width or width <= 0:
            return
        self._width = width
        items = [(key, label) for key, (_n, _p, label) in LAB_FAULTS.items()]
        # greedy packing, an item (key + label) never split; spans never start with a space
        # (some SVG renderers drop leading spaces)
        lines: list[list[tuple[str, str]]] = [[]]
        used = len(TITLE)
        for key, label in items:
            size = len(key) + 1 + len(label) + 2
            if lines[-1] and used + size - 2 > width:
                lines.append([])
                used = len(TITLE)
            lines[-1].append((key, label))
            used += size
        self._lines = lines if len(lines) <= MAX_LINES else None
        self.refresh(layout=True)

    def render(self) -> RenderResult:
        # styles are looked up here: before the stylesheet reaches the widget they do not exist
        key_style = self.get_component_rich_style("lab--key", partial=True)
        title = self.get_component_rich_style("lab--title", partial=True)
        text = Text(TITLE, title, no_wrap=True, overflow="ellipsis")
        if self._lines is None:
            text.append("fault keys ")
            for key in LAB_FAULTS:
                text.append(key, key_style)
                text.append(" ")
            text.append("(? says which is which)")
        else:
            for n, line in enumerate(self._lines):
                if n:
                    text.append("\n" + " " * len(TITLE))
                for i, (key, label) in enumerate(line):
                    text.append(key, key_style)
                    text.append(f" {label}" + ("  " if i < len(line) - 1 else ""))
        return text
