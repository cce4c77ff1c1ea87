"""Pick a new weight for a real server (+ / - step it, or type it); then the confirm dialog."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from lvstop.model.ipvs import MAX_WEIGHT
from lvstop.safetext import escape_controls


class WeightScreen(ModalScreen[int | None]):
    DEFAULT_CSS = """
    WeightScreen { align: center middle; }
    WeightScreen > #dialog { width: 50; height: auto; border: thick $accent;
        background: $surface; padding: 1 2; }
    WeightScreen #hint { color: $text-muted; }
    WeightScreen #error { color: $text-error; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the keys step the value instead of reaching the (digits-only) input
        Binding(
            "plus,equals_sign", "step(1)", "+1", id="weight.up", tooltip="Weight + 1", priority=True
        ),
        Binding("minus", "step(-1)", "-1", id="weight.down", tooltip="Weight - 1", priority=True),
        Binding("escape", "cancel", "Cancel", id="weight.cancel", tooltip="Leave it as it is"),
    ]

    def __init__(self, endpoint: str, weight: int) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.current = weight

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(
                escape_controls(f"Weight of {self.endpoint} (now {self.current})"), markup=False
            )
            yield Input(
                str(self.current), id="weight", restrict=r"[0-9]*", max_length=len(str(MAX_WEIGHT))
            )
            yield Static("+ / - step, Enter to review, Esc to cancel", id="hint")
            yield Static("", id="error")

    def _value(self) -> int | None:
        text = self.query_one("#weight", Input).value.strip()
        if not text.isdigit() or int(text) > MAX_WEIGHT:
            self.query_one("#error", Static).update(
                f"a weight is a whole number from 0 to {MAX_WEIGHT}"
            )
            return None
        return int(text)

    def action_step(self, delta: int) -> None:
        value = self._value()
        if value is None:
            value = self.current
        self.query_one("#weight", Input).value = str(max(0, min(MAX_WEIGHT, value + delta)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = self._value()
        if value is not None:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
