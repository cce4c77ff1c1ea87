"""Fleet views → table rows (``lvstop.tui.rows``): the overview, the VRID matrix, the
differences, one director's real servers. No Textual."""

from __future__ import annotations

import time
from collections.abc import Sequence

from lvstop.fleet.compare import Difference, Overview, VridRow
from lvstop.fleet.model import LIVE, Director
from lvstop.tui.rows import Column, Row

OVERVIEW_COLUMNS = (
    Column("name", "Director", 18),
    Column("status", "Link", 15),
    Column("keepalived", "KA", 4),
    Column("vips", "VIPs held", 16, flex=True),
    Column("services", "Svc", 4, numeric=True, priority=2),
    Column("rs", "RS", 4, numeric=True, priority=2),
    Column("down", "RS w0", 6, numeric=True),
    Column("drained", "Drained", 8, numeric=True),
    Column("conns", "ActConn", 8, numeric=True),
    Column("cps", "CPS", 7, numeric=True),
    Column("transition", "Last transition", 24, priority=1),
    Column("drift", "Diffs", 6, numeric=True),
)


def _age(since: float | None, now: float) -> str:
    if since is None:
        return ""
    seconds = max(0.0, now - since)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.0f}h ago"


def _n(value: int | None) -> str:
    return "" if value is None else str(value)


def overview_row(o: Overview, d: Director, now: float | None = None) -> Row:
    now = time.time() if now is None else now
    if o.status == LIVE:
        link, link_mark = "live", "ok"
    elif o.status == "down":
        retry = "" if d.retry_in is None else f", retry {d.retry_in:.0f}s"
        link, link_mark = f"DOWN{retry}", "error"
    else:
        link, link_mark = "connecting", "warn"
    transition = (
        f"{o.last_transition} {_age(o.last_transition_at, now)}" if o.last_transition else ""
    )
    cells = (
        o.name,
        link,
        o.keepalived,
        " ".join(o.vips_held),
        _n(o.services),
        _n(o.real_servers),
        _n(o.zero_weight),
        _n(o.drained),
        _n(o.active_conns),
        "" if o.cps is None else f"{o.cps:.1f}",
        transition,
        str(o.differences),
    )
    marks = (
        "",
        link_mark,
        "error" if o.keepalived == "down" else "",
        "",
        "",
        "",
        "warn" if o.zero_weight else "",
        "accent" if o.drained else "",
        "",
        "",
        "",
        "warn" if o.differences else "",
    )
    values = (
        o.name,
        o.status,
        o.keepalived,
        len(o.vips_held),
        o.services,
        o.real_servers,
        o.zero_weight,
        o.drained,
        o.active_conns,
        o.cps,
        o.last_transition_at,
        o.differences,
    )
    return Row(o.name, cells, values, marks, search_text=" ".join(cells))


def reason_line(d: Director) -> str | None:
    """The sentence under a director that is not live (or has problems)."""
    if d.status != LIVE and d.reason:
        return f"{d.name}: {d.reason}"
    if d.ipvs_error:
        return f"{d.name}: {d.ipvs_error}"
    if d.problems:
        return f"{d.name}: {d.problems[0]}"
    return None


def vrid_columns(directors: Sequence[Director]) -> tuple[Column, ...]:
    return (
        Column("vrid", "VRID", 6, numeric=True),
        *(Column(f"d:{d.name}", d.name[:16], max(8, min(16, len(d.name)))) for d in directors),
        Column("wire", "Wire master", 24, flex=True),
        Column("flag", "Flag", 20),
    )


def vrid_rows(rows: Sequence[VridRow]) -> list[Row]:
    out = []
    for r in rows:
        state_marks = tuple(
            "ok"
            if s == "MASTER"
            else "error"
            if s in ("FAULT", "STOPPED")
            else "dim"
            if s in ("-", "?")
            else ""
            for _n, s in r.states
        )
        cells = (
            str(r.vrid) if r.family == "inet" else f"{r.vrid} v6",
            *(s for _n, s in r.states),
            r.wire_master,
            r.flag or "",
        )
        out.append(
            Row(
                r.key,
                cells,
                (r.vrid, *(s for _n, s in r.states), r.wire_master, r.flag or ""),
                ("", *state_marks, "", "error" if r.flag else ""),
                row_mark="error" if r.flag else "",
                search_text=" ".join(cells),
            )
        )
    return out


DIFF_COLUMNS = (
    Column("key", "Object", 44, flex=True),
    Column("what", "Differs in", 12),
    Column("values", "Per director", 40),
)


def diff_rows(diffs: Sequence[Difference]) -> list[Row]:
    out = []
    for i, diff in enumerate(diffs):
        values = "  ".join(f"{name}: {value}" for name, value in diff.values)
        cells = (diff.key, diff.what, values)
        out.append(
            Row(
                f"{i}:{diff.key}:{diff.what}",
                cells,
                cells,
                ("", "warn", ""),
                search_text=" ".join(cells),
            )
        )
    return out


RS_COLUMNS = (
    Column("service", "Service", 24),
    Column("rs", "Real server", 22, flex=True),
    Column("fwd", "Fwd", 6, priority=2),
    Column("weight", "Weight", 8, numeric=True),
    Column("active", "ActConn", 8, numeric=True),
    Column("inactive", "InActConn", 9, numeric=True, priority=1),
    Column("elsewhere", "On the others", 30, priority=1),
)


def real_server_rows(d: Director, others: Sequence[Director]) -> list[Row]:
    """One director's real servers, with the other directors' weights of the same one."""
    if d.ipvs is None:
        return []
    out = []
    for svc, rs in d.ipvs.real_servers():
        drained = d.drained.get(rs.key)
        weight = (
            f"{rs.weight} ⇢{drained}" if drained is not None and rs.weight == 0 else str(rs.weight)
        )
        theirs = []
        for o in others:
            other = o.ipvs.real_server(rs.key) if o.ipvs is not None else None
            theirs.append(
                f"{o.name}: "
                + ("?" if o.ipvs is None else "absent" if other is None else f"w{other.weight}")
            )
        differs = any(
            t.endswith(("absent",)) or not t.endswith(f"w{rs.weight}")
            for t in theirs
            if not t.endswith("?")
        )
        cells = (
            svc.label,
            rs.endpoint,
            rs.forward,
            weight,
            str(rs.active_conns),
            str(rs.inactive_conns),
            "  ".join(theirs),
        )
        out.append(
            Row(
                rs.key,
                cells,
                (
                    svc.label,
                    rs.endpoint,
                    rs.forward,
                    rs.weight,
                    rs.active_conns,
                    rs.inactive_conns,
                    cells[-1],
                ),
                (
                    "",
                    "",
                    "",
                    "accent"
                    if drained is not None and rs.weight == 0
                    else "warn"
                    if rs.weight == 0
                    else "",
                    "",
                    "",
                    "warn" if differs else "",
                ),
                search_text=" ".join(cells),
            )
        )
    return out
