"""The dashboard's event log entries, and the IPVS differ that produces some of them.

Pure code (no Textual): snapshots in, ``LogEvent`` out. VRRP events come from the VRRP
tracker (``lvstop.track.vrrp``) and are only converted here; IPVS events (real servers
appearing / vanishing, weight and timeout changes, services added / removed) are found by
comparing two consecutive IPVS snapshots. A change lvstop itself just wrote is attributed to
lvstop (``expect_write``); any other change is "by someone else" (keepalived, an operator).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from lvstop.model.ipvs import IpvsSnapshot
from lvstop.model.jsonform import JsonModel, from_json
from lvstop.model.vrrp import VrrpEvent

#: event log severities → table marks
SEVERITY_MARK = {"info": "", "notice": "accent", "warning": "warn", "error": "error", "ok": "ok"}


@dataclass(frozen=True, slots=True)
class LogEvent(JsonModel):
    time: float
    kind: str
    text: str
    severity: str = "info"
    source: str = "ipvs"  # "ipvs" | "vrrp" | "lvstop"

    @property
    def key(self) -> str:
        return f"{self.time:.6f}|{self.kind}|{self.text}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogEvent:
        return from_json(cls, data)


_VRRP_SEVERITY = {
    "master": "notice",
    "failover": "warning",
    "preempt": "notice",
    "resign": "notice",
    "split_brain": "error",
    "split_brain_cleared": "ok",
    "conflict": "error",
    "silent": "error",
    "bogus": "warning",
    "host_mismatch": "warning",
}


def vrrp_log_event(event: VrrpEvent) -> LogEvent:
    """One VRRP tracker event as a log line; the tracker's own sentence when it has one."""
    vrid = f"VRID {event.vrid}" if event.vrid is not None else "VRRP"
    if event.kind == "failover":
        gap = f" after a {event.gap_ms / 1000:.2f}s gap" if event.gap_ms is not None else ""
        text = f"{vrid} failover {event.previous or '?'} → {event.master or '?'}{gap}"
    elif event.kind == "preempt":
        text = f"{vrid} preempted: {event.previous or '?'} → {event.master or '?'}"
    elif event.kind == "master":
        text = f"{vrid} master is {event.master}"
    elif event.kind == "split_brain":
        text = f"{vrid} SPLIT BRAIN: {', '.join(event.sources)} all advertise"
    elif event.kind == "split_brain_cleared":
        text = f"{vrid} split brain over; master {event.master or '?'}"
    elif event.kind == "conflict":
        text = f"{vrid} conflict between {', '.join(event.sources)}: {', '.join(event.fields)}"
    elif event.kind == "silent":
        text = (
            f"{vrid} silent: master {event.previous or event.master or '?'} stopped, "
            "nobody took over"
        )
    elif event.kind == "bogus":
        text = f"{vrid} bogus packet from {', '.join(event.sources) or '?'}: {event.error}"
    elif event.kind == "resign":
        text = f"{vrid} {event.master or event.previous or '?'} resigned (priority 0)"
    else:
        text = event.detail or f"{vrid} {event.kind}"
    if event.interface:
        text += f" on {event.interface}"
    return LogEvent(event.time, event.kind, text, _VRRP_SEVERITY.get(event.kind, "info"), "vrrp")


#: what a write lvstop made set: a real server's weight, or the timeouts (tcp, tcpfin, udp)
Written: TypeAlias = "int | tuple[int, int, int]"

#: what the differ compares of a real server: which one it is, and its weight
_membership = operator.attrgetter("address", "port", "weight")


class IpvsDiffer:
    """Compares each IPVS snapshot with the previous one and says what changed."""

    def __init__(self) -> None:
        self._prev: IpvsSnapshot | None = None
        #: writes lvstop made and has not seen yet: (rs key, weight) / ("timeouts", tuple)
        self._expected: set[tuple[str, Written]] = set()

    def expect_write(self, key: str, value: Written) -> None:
        self._expected.add((key, value))

    def _who(self, key: str, value: Written) -> str:
        if (key, value) in self._expected:
            self._expected.discard((key, value))
            return "by lvstop"
        return "by someone else"

    def update(self, snapshot: IpvsSnapshot, now: float) -> list[LogEvent]:
        prev, self._prev = self._prev, snapshot
        if prev is None:
            return []
        out: list[LogEvent] = []
        old_services, new_services = prev.by_key(), snapshot.by_key()
        # the same services (the usual case): no sets of 10,000 keys to subtract
        if new_services.keys() != old_services.keys():
            for key in new_services.keys() - old_services.keys():
                out.append(
                    LogEvent(
                        now,
                        "service_added",
                        f"service {new_services[key].label} appeared",
                        "notice",
                    )
                )
            for key in old_services.keys() - new_services.keys():
                out.append(
                    LogEvent(
                        now,
                        "service_removed",
                        f"service {old_services[key].label} vanished",
                        "warning",
                    )
                )
        # Counters change every poll; membership and weights rarely: compare those only
        # (real servers a partial read did not read again are the very same tuple).
        changed = []
        for key, after_svc in new_services.items():
            before_svc = old_services.get(key)
            if before_svc is None:
                continue
            before_rs, after_rs = before_svc.real_servers, after_svc.real_servers
            if before_rs is not after_rs and list(map(_membership, before_rs)) != list(
                map(_membership, after_rs)
            ):
                changed.append(key)
        for key in sorted(changed):
            old_rs = {rs.key: rs for rs in old_services[key].real_servers}
            new_rs = {rs.key: rs for rs in new_services[key].real_servers}
            label = new_services[key].label
            for rs_key in sorted(new_rs.keys() - old_rs.keys()):
                rs = new_rs[rs_key]
                out.append(
                    LogEvent(
                        now,
                        "rs_added",
                        f"{rs.endpoint} appeared in {label} (weight {rs.weight})",
                        "notice",
                    )
                )
            for rs_key in sorted(old_rs.keys() - new_rs.keys()):
                out.append(
                    LogEvent(
                        now,
                        "rs_removed",
                        f"{old_rs[rs_key].endpoint} vanished from {label}",
                        "warning",
                    )
                )
            for rs_key in sorted(new_rs.keys() & old_rs.keys()):
                before, after = old_rs[rs_key].weight, new_rs[rs_key].weight
                if before != after:
                    who = self._who(rs_key, after)
                    out.append(
                        LogEvent(
                            now,
                            "weight",
                            f"{new_rs[rs_key].endpoint} in {label} weight {before} → {after} {who}",
                            "warning" if after == 0 else "notice",
                            "lvstop" if who == "by lvstop" else "ipvs",
                        )
                    )
        if (
            prev.timeouts is not None
            and snapshot.timeouts is not None
            and prev.timeouts != snapshot.timeouts
        ):
            t0, t1 = prev.timeouts, snapshot.timeouts
            who = self._who("timeouts", (t1.tcp, t1.tcpfin, t1.udp))
            out.append(
                LogEvent(
                    now,
                    "timeouts",
                    f"timeouts tcp/tcpfin/udp {t0.tcp}/{t0.tcpfin}/{t0.udp} → "
                    f"{t1.tcp}/{t1.tcpfin}/{t1.udp} {who}",
                    "notice",
                )
            )
        return out
