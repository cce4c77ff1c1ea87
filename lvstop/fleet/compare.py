"""Directors lined up: the overview's figures, the VRID × director matrix and the differences
between their IPVS tables. Pure functions over ``lvstop.fleet.model`` views."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lvstop.fleet.model import Director
from lvstop.model.ipvs import Service


@dataclass(frozen=True, slots=True)
class Overview:
    """One director's row of the overview."""

    name: str
    status: str
    reason: str
    keepalived: str  # "up" / "down" / "?"
    vips_held: tuple[str, ...]
    services: int | None
    real_servers: int | None
    zero_weight: int | None  # weight 0 and not drained by lvstop (inhibited, down)
    drained: int | None
    active_conns: int | None
    cps: float | None
    last_transition: str  # "VI_1 MASTER" or ""
    last_transition_at: float | None
    differences: int


def overview(d: Director, differences: Sequence[Difference] = ()) -> Overview:
    ipvs = d.ipvs
    rss = [rs for _svc, rs in ipvs.real_servers()] if ipvs else None
    last = d.last_transition
    return Overview(
        name=d.name,
        status=d.status,
        reason=d.reason,
        keepalived="?" if not d.live else ("up" if d.keepalived_running else "down"),
        vips_held=tuple(sorted({v for i in d.instances for v in i.vips_held})),
        services=None if ipvs is None else len(ipvs.services),
        real_servers=None if rss is None else len(rss),
        zero_weight=None
        if rss is None
        else sum(1 for rs in rss if rs.weight == 0 and rs.key not in d.drained),
        drained=None
        if rss is None
        else sum(1 for rs in rss if rs.weight == 0 and rs.key in d.drained),
        active_conns=None if rss is None else sum(rs.active_conns for rs in rss),
        cps=d.cps,
        last_transition="" if last is None else f"{last.name} {last.state}",
        last_transition_at=None if last is None else last.since,
        differences=sum(1 for diff in differences if d.name in diff.involves),
    )


@dataclass(frozen=True, slots=True)
class VridRow:
    """One VRID: each director's keepalived state, the wire's master, and what is wrong."""

    family: str
    vrid: int
    #: per director (in the fleet's order): its keepalived state for this VRID, or
    #: "-" (not configured there), "?" (director not live)
    states: tuple[tuple[str, str], ...]
    #: the master the wires show ("10.0.5.90 (d1)"), "silent", or several when they disagree
    wire_master: str
    flag: str | None

    @property
    def key(self) -> str:
        return f"{self.family}:{self.vrid}"


def _who(address: str, directors: Sequence[Director]) -> str:
    for d in directors:
        if address in d.addresses:
            return f"{address} ({d.name})"
    return address


def vrid_matrix(directors: Sequence[Director]) -> list[VridRow]:
    keys: set[tuple[str, int]] = set()
    for d in directors:
        keys.update((i.family, i.vrid) for i in d.instances if i.vrid is not None)
        keys.update((w.family, w.vrid) for w in d.wire)
    rows = []
    for family, vrid in sorted(keys, key=lambda k: (k[1], k[0])):
        states: list[tuple[str, str]] = []
        masters = 0
        configured_live = 0
        for d in directors:
            if not d.live:
                states.append((d.name, "?"))
                continue
            inst = next((i for i in d.instances if i.vrid == vrid and i.family == family), None)
            if inst is None:
                states.append((d.name, "-"))
                continue
            configured_live += 1
            masters += inst.state == "MASTER"
            states.append((d.name, inst.state))
        seen = {
            w.master
            for d in directors
            if d.live
            for w in d.wire
            if w.vrid == vrid and w.family == family
        }
        split = any(
            w.split_brain
            for d in directors
            if d.live
            for w in d.wire
            if w.vrid == vrid and w.family == family
        )
        named = sorted(_who(m, directors) for m in seen if m)
        wire = " / ".join(named) if named else ("silent" if seen else "not seen")
        flag = None
        if configured_live and masters == 0:
            flag = "no MASTER"
        elif masters > 1:
            flag = f"{masters} MASTERs"
        if split:
            flag = "split brain" if flag is None else f"{flag}, split brain"
        elif len(named) > 1:
            flag = "wires disagree" if flag is None else f"{flag}, wires disagree"
        rows.append(VridRow(family, vrid, tuple(states), wire, flag))
    return rows


@dataclass(frozen=True, slots=True)
class Difference:
    """Something not the same on every live director."""

    key: str  # the service or real server key, "timeouts" or "sync daemon"
    what: str  # "only on some", "weight", "scheduler", ...
    #: (director, its value) for each live director
    values: tuple[tuple[str, str], ...]

    @property
    def involves(self) -> tuple[str, ...]:
        """The directors in the minority (all when there is no majority)."""
        counts: dict[str, int] = {}
        for _name, value in self.values:
            counts[value] = counts.get(value, 0) + 1
        top = max(counts.values())
        if list(counts.values()).count(top) > 1:
            return tuple(name for name, _ in self.values)
        common = next(v for v, c in counts.items() if c == top)
        return tuple(name for name, value in self.values if value != common)


def _service_traits(svc: Service) -> dict[str, str]:
    persistence = (
        f"{svc.persistence_timeout}s mask {svc.persistence_mask}"
        if svc.persistence_timeout
        else "none"
    )
    return {
        "scheduler": svc.scheduler,
        "flags": ",".join(svc.flags) or "-",
        "persistence": persistence,
    }


def differences(directors: Sequence[Director]) -> list[Difference]:
    live = [(d.name, d.ipvs) for d in directors if d.live and d.ipvs is not None]
    if len(live) < 2:
        return []
    out: list[Difference] = []

    def add(key: str, what: str, values: list[tuple[str, str]]) -> None:
        if len({v for _n, v in values}) > 1:
            out.append(Difference(key, what, tuple(values)))

    for key in sorted({s.key for _n, ipvs in live for s in ipvs.services}):
        svcs = [(n, ipvs.service(key)) for n, ipvs in live]
        add(key, "service", [(n, "present" if s else "absent") for n, s in svcs])
        present = [(n, s) for n, s in svcs if s is not None]
        if len(present) < 2:
            continue
        for trait in ("scheduler", "flags", "persistence"):
            add(key, trait, [(n, _service_traits(s)[trait]) for n, s in present])
        for ep in sorted({rs.endpoint for _n, s in present for rs in s.real_servers}):
            rss = [(n, s.real_server(ep)) for n, s in present]
            rs_key = f"{key}->{ep}"
            add(rs_key, "real server", [(n, "present" if r else "absent") for n, r in rss])
            both = [(n, r) for n, r in rss if r is not None]
            add(rs_key, "weight", [(n, str(r.weight)) for n, r in both])
            add(rs_key, "forward", [(n, r.forward) for n, r in both])
    add(
        "timeouts",
        "timeouts",
        [
            (
                n,
                "-"
                if ipvs.timeouts is None
                else f"{ipvs.timeouts.tcp} {ipvs.timeouts.tcpfin} {ipvs.timeouts.udp}",
            )
            for n, ipvs in live
        ],
    )
    add(
        "sync daemon",
        "sync daemon",
        [
            (
                n,
                ", ".join(sorted(f"{s.state} {s.interface} id {s.syncid}" for s in ipvs.daemons))
                or "none",
            )
            for n, ipvs in live
        ],
    )
    return out
