"""The confirm dialog every write goes through: before → after, and the ipvsadm equivalent."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from lvstop.safetext import escape_controls


class ConfirmScreen(ModalScreen[bool]):
    """Enter / y applies, Esc / n cancels. Dismisses with True to apply."""

    AUTO_FOCUS = None
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > #dialog {
        width: auto; min-width: 44; max-width: 90%; height: auto;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen #title { text-style: bold; color: $text-warning; }
    ConfirmScreen #change { margin: 1 0 0 0; }
    ConfirmScreen #command { color: $text-muted; margin: 1 0; }
    ConfirmScreen #warning { color: $text-warning; max-width: 86; margin: 0 0 1 0; }
    ConfirmScreen #buttons { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin: 0 0 0 1; min-width: 12; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter,y",
            "apply",
            "Apply",
            id="confirm.apply",
            tooltip="Apply the change to the kernel",
        ),
        Binding(
            "escape,n",
            "cancel",
            "Cancel",
            id="confirm.cancel",
            tooltip="Close without changing anything",
        ),
    ]

    def __init__(
        self, title: str, before: str, after: str, command: str, warning: str = ""
    ) -> None:
        super().__init__()
        self.warning = warning
        self.title_text = title
        self.before = before
        self.after = after
        self.command = command

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(escape_controls(self.title_text), id="title", markup=False)
            yield Static(
                escape_controls(f"{self.before}  →  {self.after}"), id="change", markup=False
            )
            yield Static(escape_controls(f"same as: {self.command}"), id="command", markup=False)
            if self.warning:
                yield Static(escape_controls(f"⚠ {self.warning}"), id="warning", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Apply (y)", variant="warning", id="apply")
                yield Button("Cancel (n)", id="cancel")

    def action_apply(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "apply")
