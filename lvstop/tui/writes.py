"""What a write will do, in words and as the equivalent ipvsadm command (no Textual)."""

from __future__ import annotations

from dataclasses import dataclass

from lvstop.model.ipvs import RealServer, Service, Timeouts
from lvstop.tui.incident import _FORWARD_FLAG, _service_spec, tunnel_options


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    kind: str  # "drain" | "restore" | "weight" | "timeouts"
    title: str
    before: str
    after: str
    command: str
    #: keepalived will undo it (``Drift.drain_warning``): configured weight, FILE:LINE
    warning: str = ""


def weight_command(svc: Service, rs: RealServer, weight: int) -> str:
    return (
        f"ipvsadm -e {_service_spec(svc)} -r {rs.endpoint} "
        f"{_FORWARD_FLAG.get(rs.forward, '-g')} -w {weight}{tunnel_options(rs)}"
    )


def plan_weight(svc: Service, rs: RealServer, weight: int, kind: str = "weight") -> PlannedWrite:
    verb = {"drain": "Drain", "restore": "Restore"}.get(kind, "Set the weight of")
    return PlannedWrite(
        kind,
        f"{verb} {rs.endpoint} in {svc.label.replace('  ', ' ')}",
        f"weight {rs.weight}",
        f"weight {weight}",
        weight_command(svc, rs, weight),
    )


def plan_timeouts(before: Timeouts, after: Timeouts) -> PlannedWrite:
    return PlannedWrite(
        "timeouts",
        "Set the IPVS timeouts (new connections only)",
        f"tcp {before.tcp}s tcpfin {before.tcpfin}s udp {before.udp}s",
        f"tcp {after.tcp}s tcpfin {after.tcpfin}s udp {after.udp}s",
        f"ipvsadm --set {after.tcp} {after.tcpfin} {after.udp}",
    )
