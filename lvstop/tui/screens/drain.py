"""Drain progress: a drained real server's connection counts falling to zero.

Warns when sysctls make that slower than expected: with ``expire_quiescent_template=0``
persistence templates keep returning clients on a weight-0 server until they expire; with
``expire_nodest_conn=0`` entries of a *removed* server linger until their timeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from lvstop.model.ipvs import IpvsSnapshot
from lvstop.safetext import escape_controls

SYSCTL_DIR = Path("/proc/sys/net/ipv4/vs")


def read_sysctls(directory: Path = SYSCTL_DIR) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name in ("expire_quiescent_template", "expire_nodest_conn"):
        try:
            out[name] = int((directory / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            out[name] = None
    return out


def drain_warnings(
    sysctls: dict[str, int | None], persistent: bool, tcp_timeout: int | None
) -> list[str]:
    warnings = []
    if persistent and sysctls.get("expire_quiescent_template") == 0:
        warnings.append(
            "expire_quiescent_template=0: persistence templates keep sending "
            "returning clients here until they expire"
        )
    if sysctls.get("expire_nodest_conn") == 0:
        warnings.append(
            "expire_nodest_conn=0: if the server is removed instead of drained, "
            "its entries linger until their timeout"
        )
    if tcp_timeout is not None and tcp_timeout >= 300:
        warnings.append(
            f"tcp timeout {tcp_timeout}s: idle keep-alive connections can hold on that long"
        )
    return warnings


class DrainScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    DrainScreen { align: center middle; }
    DrainScreen > #dialog { width: 70; max-width: 95%; height: auto; border: thick $accent;
        background: $surface; padding: 1 2; }
    DrainScreen #counts { text-style: bold; margin: 1 0; }
    DrainScreen #warnings { color: $text-warning; }
    DrainScreen #done { color: $text-success; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="drain.close"),
    ]

    def __init__(self, rs_key: str, endpoint: str) -> None:
        super().__init__()
        self.rs_key = rs_key
        self.endpoint = endpoint
        self.sysctls: dict[str, int | None] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(escape_controls(f"Draining {self.endpoint}"), markup=False)
            yield Static("waiting for the next poll…", id="counts")
            yield Static("", id="done")
            yield Static("", id="warnings", markup=False)
            yield Static("Esc closes; the drain goes on", classes="hint")

    def on_mount(self) -> None:
        self.load_sysctls()
        self.watch(self.app, "ipvs", self._update)

    @work(thread=True, exit_on_error=False, description="read IPVS sysctls")
    def load_sysctls(self) -> None:
        self.sysctls = read_sysctls()

    def _update(self, snapshot: IpvsSnapshot | None) -> None:
        if snapshot is None:
            return
        rs = snapshot.real_server(self.rs_key)
        if rs is None:
            self.query_one("#counts", Static).update("the real server is gone from the table")
            return
        svc = snapshot.service(rs.service_key)
        self.query_one("#counts", Static).update(
            f"weight {rs.weight}   active {rs.active_conns}   inactive {rs.inactive_conns}"
            f"   persistent {rs.persistent_conns}"
        )
        empty = rs.active_conns == rs.inactive_conns == rs.persistent_conns == 0
        self.query_one("#done", Static).update(
            "no connections left: safe to take it down" if empty else ""
        )
        persistent = bool(svc and svc.persistence_timeout)
        tcp = snapshot.timeouts.tcp if snapshot.timeouts else None
        self.query_one("#warnings", Static).update(
            "\n".join(drain_warnings(self.sysctls, persistent, tcp))
        )
