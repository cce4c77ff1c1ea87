"""Snapshots → table rows (no Textual): what each dashboard table shows, cell by cell.

Rates shown are lvstop's own (counter deltas over the poll interval, ``lvstop.track.rates``),
not the kernel's 2-second EWMA; a dash means "no rate yet" (first poll, counter reset).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service
from lvstop.model.vrrp import VridState, VrrpSnapshot
from lvstop.track.events import SEVERITY_MARK, LogEvent
from lvstop.track.window_rates import WindowRates
from lvstop.tui.format import duration, human, percent, rate, sparkline
from lvstop.tui.rows import Column, Row

EMPTY_SERVICES = "no IPVS services in this namespace — is keepalived running?"

#: percentage points between a real server's share of new connections and its share of the
#: weight above which the row is highlighted ("rr doesn't balance")
IMBALANCE_POINTS = 15.0
#: below this many new connections per second a share means nothing
IMBALANCE_MIN_CPS = 1.0
#: schedulers that ignore weights other than 0 (rr sends to every non-zero weight in turn)
UNWEIGHTED = frozenset({"rr", "lc", "sh", "dh", "mh", "fo", "ovf"})

SERVICE_COLUMNS = (
    Column("service", "Service", 22),
    Column("sched", "Sched", 5),
    Column("rs", "RS up", 5, numeric=True),
    Column("active", "Active", 7, numeric=True),
    Column("inactive", "Inact", 6, numeric=True, priority=1),
    Column("cps", "CPS", 6, numeric=True),
    Column("inbps", "In B/s", 7, numeric=True, priority=1),
    Column("trend", "Trend", 10, priority=2),
    Column("persist", "Persist", 7, priority=3),
    Column("outbps", "Out B/s", 7, numeric=True, priority=4),
    Column("inpps", "In p/s", 7, numeric=True, priority=4),
    Column("outpps", "Out p/s", 7, numeric=True, priority=4),
)

RS_COLUMNS = (
    Column("rs", "Real server", 21),
    Column("weight", "Weight", 9, numeric=True),
    Column("active", "Active", 7, numeric=True),
    Column("inactive", "Inact", 6, numeric=True),
    Column("cps", "CPS", 6, numeric=True),
    Column("new", "New%", 5, numeric=True, priority=1),
    Column("wshare", "Wt%", 4, numeric=True, priority=1),
    Column("state", "State", 9, priority=2),
    Column("fwd", "Fwd", 6, priority=3),
    Column("persist", "Persist", 7, numeric=True, priority=3),
    Column("bps", "In B/s", 7, numeric=True, priority=3),
)

VRRP_COLUMNS = (
    Column("vrid", "VRID", 5, numeric=True),
    Column("master", "Master", 15),
    Column("here", "Here", 4),
    Column("prio", "Prio", 4, numeric=True),
    Column("vips", "VIPs", 11, flex=True),
    Column("last", "Last", 4, numeric=True),
    Column("badges", "State", 12),
    Column("int", "Int", 4, numeric=True, priority=2),
    Column("iface", "If", 6, priority=3),
)

EVENT_COLUMNS = (
    Column("time", "Time", 8),
    Column("text", "Event", 20, flex=True),
)

_FORWARD = {"masq": "masq", "route": "dr", "tunnel": "tun", "local": "local", "bypass": "bypass"}


#: the points of a service's Trend sparkline (its rates' history: one per poll)
TREND_POINTS = 10


class ServiceRows:
    """The services table's rows (a ``RowSource``): a row is made only when the table shows
    it, a sort value only when the table sorts by that column (with 10,000 services, making
    every row each poll would cost most of a refresh)."""

    def __init__(self, snapshot: IpvsSnapshot, rates: WindowRates) -> None:
        self._services = snapshot.by_key()
        self._keys = list(self._services)  # asked for more than once a poll
        self._rates = rates
        self._rows: dict[str, Row] = {}

    def keys(self) -> Sequence[str]:
        return self._keys

    def row(self, key: str) -> Row:
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = service_row(key, self._services[key], self._rates)
        return row

    def sort_value(self, key: str, column: int) -> Any:
        svc = self._services[key]
        name = SERVICE_COLUMNS[column].key
        if name in _SERVICE_SUMS:
            up, active, inactive = _sums(svc)
            return {"rs": up, "active": active, "inactive": inactive}[name]
        if name in _SERVICE_RATES:
            r = self._rates.rates(key)
            return None if r is None else getattr(r, _SERVICE_RATES[name])
        return {"service": key, "sched": svc.scheduler, "persist": svc.persistence_timeout}.get(
            name
        )

    def search_text(self, key: str) -> str:
        svc = self._services[key]
        return f"{svc.label.replace('  ', ' ')} {svc.scheduler}"


#: the services table's columns that sort by a sum over the real servers, or by a rate
_SERVICE_SUMS = frozenset({"rs", "active", "inactive"})
_SERVICE_RATES = {
    "cps": "cps",
    "inbps": "inbps",
    "trend": "cps",
    "outbps": "outbps",
    "inpps": "inpps",
    "outpps": "outpps",
}


def _sums(svc: Service) -> tuple[int, int, int]:
    """Real servers up (weight > 0), active and inactive connections of a service."""
    up = active = inactive = 0
    for rs in svc.real_servers:
        up += rs.weight > 0
        active += rs.active_conns
        inactive += rs.inactive_conns
    return up, active, inactive


def service_row(key: str, svc: Service, rates: WindowRates) -> Row:
    r = rates.rates(key)
    up, active, inactive = _sums(svc)
    total = len(svc.real_servers)
    persist = f"{svc.persistence_timeout}s" if svc.persistence_timeout else "-"
    label = svc.label.replace("  ", " ")
    cells = (
        label,
        svc.scheduler,
        f"{up}/{total}",
        human(active),
        human(inactive),
        rate(r.cps if r else None),
        rate(r.inbps if r else None),
        sparkline(rates.history(key, "cps"), TREND_POINTS),
        persist,
        rate(r.outbps if r else None),
        rate(r.inpps if r else None),
        rate(r.outpps if r else None),
    )
    values = (
        key,
        svc.scheduler,
        up,
        active,
        inactive,
        r.cps if r else None,
        r.inbps if r else None,
        r.cps if r else None,
        svc.persistence_timeout,
        r.outbps if r else None,
        r.inpps if r else None,
        r.outpps if r else None,
    )
    rs_mark = "error" if total and up == 0 else ("warn" if up < total else "")
    marks = ("", "", rs_mark) + ("",) * 9
    return Row(key, cells, values, marks, search_text=f"{label} {svc.scheduler}")


def service_rows(snapshot: IpvsSnapshot, rates: WindowRates) -> list[Row]:
    """Every service's row (``ServiceRows`` makes them only when shown)."""
    return [service_row(key, svc, rates) for key, svc in snapshot.by_key().items()]


def weight_shares(svc: Service) -> dict[str, float | None]:
    """Each real server's share (%) of the traffic its weight entitles it to."""
    if svc.scheduler in UNWEIGHTED:
        live = [rs for rs in svc.real_servers if rs.weight > 0]
        return {
            rs.key: (100.0 / len(live) if rs.weight > 0 else 0.0) if live else None
            for rs in svc.real_servers
        }
    total = sum(max(0, rs.weight) for rs in svc.real_servers)
    return {rs.key: percent(max(0, rs.weight), total) for rs in svc.real_servers}


def weight_cell(rs: RealServer, return_weight: int | None) -> str:
    if rs.weight == 0:
        return f"0 ⇢{return_weight}" if return_weight else "0 drain"
    return str(rs.weight)


def real_server_rows(
    svc: Service | None,
    rates: WindowRates,
    return_weights: Mapping[str, int],
    states: Mapping[str, str] | None = None,
) -> list[Row]:
    if svc is None:
        return []
    svc_rate = rates.rates(svc.key)
    rs_rates = {rs.key: rates.rates(rs.key) for rs in svc.real_servers}
    svc_cps = sum((r or _ZERO).cps for r in rs_rates.values())
    shares = weight_shares(svc)
    rows = []
    for rs in svc.real_servers:
        r = rs_rates[rs.key]
        new_share = percent(r.cps, svc_cps) if r and svc_rate and svc_cps > 0 else None
        w_share = shares.get(rs.key)
        state = (states or {}).get(rs.key, "")
        drained = rs.weight == 0
        imbalanced = (
            new_share is not None
            and w_share is not None
            and svc_cps >= IMBALANCE_MIN_CPS
            and abs(new_share - w_share) > IMBALANCE_POINTS
        )
        cells = (
            rs.endpoint,
            weight_cell(rs, return_weights.get(rs.key)),
            human(rs.active_conns),
            human(rs.inactive_conns),
            rate(r.cps if r else None),
            "-" if new_share is None else f"{new_share:.0f}",
            "-" if w_share is None else f"{w_share:.0f}",
            state or "-",
            _FORWARD.get(rs.forward, rs.forward),
            human(rs.persistent_conns),
            rate(r.inbps if r else None),
        )
        values = (
            rs.endpoint,
            rs.weight,
            rs.active_conns,
            rs.inactive_conns,
            r.cps if r else None,
            new_share,
            w_share,
            state,
            rs.forward,
            rs.persistent_conns,
            r.inbps if r else None,
        )
        state_mark = (
            "ok"
            if state.startswith("up")
            else ("error" if state in ("removed", "absent") else ("warn" if state else ""))
        )
        marks = (
            "",
            "warn" if drained else "",
            "",
            "",
            "",
            "warn" if imbalanced else "",
            "warn" if imbalanced else "",
            state_mark,
            "",
            "",
            "",
        )
        rows.append(
            Row(
                rs.key,
                cells,
                values,
                marks,
                row_mark="dim" if drained else "",
                search_text=f"{rs.endpoint} {state}",
            )
        )
    return rows


def _age(age: float | None, interval_ms: int) -> str:
    if age is None:
        return "-"
    # Under two intervals the advert is simply current: don't repaint the row every second.
    if age < 2 * interval_ms / 1000.0:
        return "<2s" if interval_ms <= 1000 else f"<{2 * interval_ms // 1000}s"
    return duration(age)


def vrid_badges(state: VridState) -> tuple[str, str]:
    badges = []
    if state.too_many_senders:  # first: what follows is unreliable under a flood
        badges.append(f"SENDERS>{len(state.routers)}")
    if state.split_brain:
        badges.append("SPLIT-BRAIN")
    if state.conflict_fields:
        badges.append("CONFLICT")
    if state.silent:
        badges.append("SILENT")
    if state.bogus:
        badges.append(f"BOGUS {state.bogus}")
    if state.host_mismatch:
        badges.append("MISMATCH")
    mark = (
        "error"
        if (state.split_brain or state.conflict_fields or state.silent or state.too_many_senders)
        else ("warn" if badges else "ok")
    )
    return (" ".join(badges) if badges else "ok"), mark


def vrrp_subtitle(snapshot: VrrpSnapshot | None) -> str:
    """The VRRP panel's bottom line: adverts the tracker could not keep, if any."""
    if snapshot is None or not snapshot.untracked_adverts:
        return ""
    what = (
        "too many VRIDs"
        if snapshot.too_many_vrids
        else ("too many senders" if snapshot.too_many_senders else "earlier flood")
    )
    return f"{what}: {snapshot.untracked_adverts:,} adverts not tracked"


def vrrp_rows(snapshot: VrrpSnapshot | None, now: float) -> list[Row]:
    if snapshot is None:
        return []
    local = set(snapshot.local_addresses)
    rows = []
    for state in snapshot.vrids:
        master = state.master_router
        interval = (
            master.interval_ms
            if master
            else (state.routers[0].interval_ms if state.routers else 1000)
        )
        vips = master.addresses if master else (state.routers[0].addresses if state.routers else ())
        here = bool(state.master and (state.master in local or state.local_vips))
        badges, mark = vrid_badges(state)
        vrid = str(state.vrid) + ("⁶" if state.family == "inet6" else "")
        cells = (
            vrid,
            state.master or "none",
            "yes" if here else "",
            str(master.priority) if master else "-",
            ",".join(vips),
            _age(state.last_advert_age(now), interval),
            badges,
            f"{interval / 1000:g}s",
            state.interface or "",
        )
        values = (
            state.vrid,
            state.master or "",
            here,
            master.priority if master else None,
            ",".join(vips),
            state.last_advert_age(now),
            badges,
            interval,
            state.interface or "",
        )
        marks = (
            "",
            "error" if not state.master else "",
            "accent" if here else "",
            "",
            "",
            "",
            mark,
            "",
            "",
        )
        rows.append(
            Row(
                state.key,
                cells,
                values,
                marks,
                search_text=" ".join((vrid, state.master or "", *vips, badges)),
            )
        )
    return rows


def event_rows(events: Iterable[LogEvent], clock_format: str = "%H:%M:%S") -> list[Row]:
    import time as _time

    rows = []
    for event in events:
        stamp = _time.strftime(clock_format, _time.localtime(event.time))
        mark = SEVERITY_MARK.get(event.severity, "")
        rows.append(Row(event.key, (stamp, event.text), (event.time, event.text), ("", mark)))
    return rows


class _Zero:
    cps = 0.0


_ZERO = _Zero()
