"""`?`: the keys, generated from the live bindings of the main screen (remaps included)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lvstop.tui.rows import Column, Row
from lvstop.tui.widgets.line_table import LineTable

HELP_COLUMNS = (
    Column("key", "Key", 12),
    Column("what", "Does", 22),
    Column("why", "", 60, priority=1),
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%;
        border: thick $accent; background: $surface; }
    HelpScreen LineTable { height: auto; }
    HelpScreen #foot { color: $text-muted; padding: 1 1 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, bindings: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        table = LineTable(HELP_COLUMNS, empty_text="no keys")
        table.set_rows(
            Row(f"{i}", (key, what, why)) for i, (key, what, why) in enumerate(self.bindings)
        )
        table.border_title = "Keys"
        with VerticalScroll():
            yield table
            yield Static(
                "Every action is also in the command palette (ctrl+p). Esc closes.", id="foot"
            )
