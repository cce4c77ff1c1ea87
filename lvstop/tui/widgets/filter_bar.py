"""The `/` filter line: filters the table that had focus; Esc clears and closes it."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    DEFAULT_CSS = """
    FilterBar { dock: bottom; display: none; height: 1; border: none; padding: 0 1;
        background: $panel; }
    FilterBar.-open { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close(True)", "Clear filter", id="filter.clear"),
    ]

    class Closed(Message):
        def __init__(self, cleared: bool) -> None:
            super().__init__()
            self.cleared = cleared

    def __init__(self, *, id: str | None = "filter") -> None:
        super().__init__(placeholder="filter (Enter keeps it, Esc clears it)", id=id)

    def open(self, value: str) -> None:
        self.value = value
        self.add_class("-open")
        self.focus()

    def action_close(self, cleared: bool) -> None:
        if cleared:
            self.value = ""
        self.remove_class("-open")
        self.post_message(self.Closed(cleared))

    async def action_submit(self) -> None:
        self.action_close(False)
