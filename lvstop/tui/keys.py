"""The dashboard's key bindings (``LvstopApp.BINDINGS``), the palette's list, and the lab keys.

Each binding has an id (users can remap it) and a tooltip; the help screen and the command
palette are generated from these, live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.binding import Binding, BindingType

WRITE_ACTIONS = frozenset({"drain", "restore", "weight", "timeouts"})

#: keys of `lvstop top --lab` (hidden otherwise): inject a lab fault
#: (``lvstop.lab.faults.apply``). key → (fault, parameters, short label for the lab strip)
LAB_FAULTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "1": ("keepalived-stop", {"node": "d1"}, "d1 ka stop"),
    "2": ("keepalived-start", {"node": "d1"}, "d1 ka start"),
    "3": ("keepalived-stop", {"node": "d2"}, "d2 ka stop"),
    "4": ("keepalived-start", {"node": "d2"}, "d2 ka start"),
    "5": ("vrrp-cut", {"src": "d1", "dst": "d2"}, "vrrp cut d1→d2"),
    "6": ("vrrp-restore", {}, "vrrp restore"),
    "7": ("load-start", {}, "load on"),
    "8": ("load-stop", {}, "load off"),
    "9": ("keepalived-kill", {"node": "d1"}, "d1 ka kill -9"),
    "0": ("keepalived-kill", {"node": "d2"}, "d2 ka kill -9"),
    "!": ("rs-stop", {"node": "rs1"}, "rs1 stop"),
    "@": ("rs-start", {"node": "rs1"}, "rs1 start"),
    "#": ("rs-stop", {"node": "rs2"}, "rs2 stop"),
    "$": ("rs-start", {"node": "rs2"}, "rs2 start"),
    "%": ("netem", {"node": "d1", "loss": 20.0, "delay": 100.0}, "d1 netem 20% 100ms"),
    "^": ("netem-clear", {}, "netem clear"),
    "&": ("rogue-start", {}, "rogue on"),
    "*": ("rogue-stop", {}, "rogue off"),
}


def lab_fault_text(key: str) -> str:
    """``keepalived-stop node=d1``: the fault as ``lvstop lab fault`` takes it."""
    name, params, _label = LAB_FAULTS[key]
    return " ".join(
        [name, *(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())]
    )


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
    _b(
        "K",
        "ask_keepalived",
        "Ask keepalived",
        "Ask keepalived for its state dumps now (one round of signals it logs)",
        show=False,
    ),
    _b("slash", "filter", "Filter", "Filter the focused table"),
    _b("p", "pause", "Pause", "Pause / resume updates"),
    _b("S", "incident", "Snapshot", "Save an incident snapshot (JSON)"),
    _b("question_mark", "help", "Help", "All keys"),
    _b("q", "quit", "Quit", "Quit (waits for a write in progress)"),
]

APP_BINDINGS: list[BindingType] = [
    *PALETTE_BINDINGS,
    Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit_ctrl_c"),
    *(
        Binding(
            k,
            f"lab_fault({k!r})",
            f"lab: {label}",
            show=False,
            id=f"lab.{name}" + "".join(f".{v}" for v in params.values() if isinstance(v, str)),
            tooltip=f"lab fault: {lab_fault_text(k)}",
        )
        for k, (name, params, label) in LAB_FAULTS.items()
    ),
]
