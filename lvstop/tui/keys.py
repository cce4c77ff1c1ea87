"""The dashboard's key bindings (``LvstopApp.BINDINGS``), the palette's list, and the lab keys.

Each binding has an id (users can remap it) and a tooltip; the help screen and the command
palette are generated from these, live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.binding import Binding, BindingType

WRITE_ACTIONS = frozenset({"drain", "restore", "weight", "timeouts"})

#: hidden keys of `lvstop top --lab`: inject a lab fault (``lvstop.lab.faults.apply``)
LAB_FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "1": ("keepalived-stop", {"node": "d1"}),
    "2": ("keepalived-start", {"node": "d1"}),
    "3": ("keepalived-stop", {"node": "d2"}),
    "4": ("keepalived-start", {"node": "d2"}),
    "5": ("vrrp-cut", {"src": "d1", "dst": "d2"}),
    "6": ("vrrp-restore", {}),
    "7": ("load-start", {}),
    "8": ("load-stop", {}),
}


def styles_dir() -> Path:
    """``lvstop/styles`` inside an installed wheel, else ``styles/`` of the checkout."""
    package = Path(__file__).resolve().parent.parent
    return package / "styles" if (package / "styles").is_dir() else package.parent / "styles"


def _b(key: str, action: str, text: str, tip: str, show: bool = True) -> Binding:
    return Binding(key, action, text, show=show, id=action.split("(")[0], tooltip=tip)


PALETTE_BINDINGS: list[Binding] = [
    _b("d", "drain", "Drain", "Drain the selected real server (weight 0)"),
    _b("r", "restore", "Restore", "Give a drained real server its weight back"),
    _b("w", "weight", "Weight", "Set the selected real server's weight"),
    _b("t", "timeouts", "Timeouts", "Set the tcp / tcpfin / udp timeouts"),
    _b("T", "explain_timeouts", "Why 900s", "Why 900 s hides round-robin", show=False),
    _b("c", "connections", "Conns", "The IPVS connection table"),
    _b("slash", "filter", "Filter", "Filter the focused table"),
    _b("p", "pause", "Pause", "Pause / resume updates"),
    _b("S", "incident", "Snapshot", "Save an incident snapshot (JSON)"),
    _b("question_mark", "help", "Help", "All keys"),
    _b("q", "quit", "Quit", "Quit (waits for a write in progress)"),
]

APP_BINDINGS: list[BindingType] = [
    *PALETTE_BINDINGS,
    Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit_ctrl_c"),
    *(Binding(k, f"lab_fault('{k}')", f"lab: {name}", show=False, id=f"lab{k}")
      for k, (name, _params) in LAB_FAULTS.items()),
]
