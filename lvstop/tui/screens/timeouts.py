"""Set the IPVS timeouts (tcp / tcpfin / udp), and the one-screen explanation of the trap."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Markdown, Static

# the kernel's limit (INT_MAX / HZ, at the highest HZ), as lvstop's writes validate it
from lvstop.model.ipvs import MAX_TIMEOUT, Timeouts

EXPLANATION = """\
# Why 900 s hides round-robin in tests

IPVS keeps a **connection entry** per client connection. For TCP it lives as long as
the `tcp` timeout (**900 s** by default) after the last packet of an ESTABLISHED
connection, `tcpfin` (**120 s**) after a FIN, and UDP flows `udp` (**300 s**).

While an entry exists, packets of that connection go to the same real server: that is
correct. The trap is **keep-alive and reused source ports**: a test client (`curl` in a
loop with keep-alive, a benchmark tool, a health checker) that reuses its connection never
asks the scheduler again, so `rr` *looks* broken — every request lands on one real server.
A drained real server (weight 0) also keeps its existing entries until they expire, so a
drain can take up to 15 minutes to empty.

`ipvsadm --set TCP TCPFIN UDP` (lvstop: `t`) changes these three timeouts for **new**
entries; entries already in the table keep the expiry they have. `0` leaves a value
unchanged. They are global for the network namespace, not per service, and they are not
persistence: `-p` (persistence timeout) is a separate, per-service template.

Test balancing with new connections (`curl --no-keepalive`, different source ports) and
watch **New%** next to **Wt%** in the real servers table instead.
"""


class TimeoutsHelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TimeoutsHelpScreen { align: center middle; }
    TimeoutsHelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,T", "dismiss", "Close", id="timeouts_help.close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(EXPLANATION)


class TimeoutsScreen(ModalScreen[Timeouts | None]):
    DEFAULT_CSS = """
    TimeoutsScreen { align: center middle; }
    TimeoutsScreen > #dialog { width: 60; height: auto; border: thick $accent;
        background: $surface; padding: 1 2; }
    TimeoutsScreen Horizontal { height: auto; }
    TimeoutsScreen Horizontal Label { width: 10; padding: 1 0 0 0; }
    TimeoutsScreen Input { width: 16; }
    TimeoutsScreen #hint { color: $text-muted; }
    TimeoutsScreen #error { color: $text-error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="timeouts.cancel"),
        Binding(
            "f1",
            "explain",
            "Why?",
            id="timeouts.explain",
            tooltip="Why 900 s hides round-robin in tests",
        ),
    ]

    def __init__(self, current: Timeouts) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("IPVS timeouts in seconds (0 leaves one unchanged)")
            for name in ("tcp", "tcpfin", "udp"):
                with Horizontal():
                    yield Label(name)
                    yield Input(
                        str(getattr(self.current, name)),
                        id=name,
                        restrict=r"[0-9]*",
                        max_length=len(str(MAX_TIMEOUT)),
                    )
            yield Static("Enter to review, Esc to cancel, F1: why 900 s hides rr", id="hint")
            yield Static("", id="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        values = {}
        for name in ("tcp", "tcpfin", "udp"):
            text = self.query_one(f"#{name}", Input).value.strip() or "0"
            if not text.isdigit() or int(text) > MAX_TIMEOUT:
                self.query_one("#error", Static).update(
                    f"{name}: seconds from 0 to {MAX_TIMEOUT} (the kernel's limit)"
                )
                return
            # 0 means "unchanged", as ipvsadm --set: show the value that will be in effect.
            values[name] = int(text) or getattr(self.current, name)
        self.dismiss(Timeouts(**values))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_explain(self) -> None:
        self.app.push_screen(TimeoutsHelpScreen())
