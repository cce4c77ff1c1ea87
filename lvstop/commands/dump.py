"""`lvstop dump`: the kernel's IPVS table once, for scripts and incidents.

Shaped like ``ipvsadm -Ln`` (same sort order), with weights, connections and rates. Which
rates: without ``--interval`` the columns are the kernel's own estimates (a 2-second EWMA,
``ip_vs_est``); with ``--interval S`` lvstop reads twice, S seconds apart, and shows the
exact average over that interval from the 64-bit counters. The header says which.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TextIO

from lvstop.errors import LvstopError
from lvstop.safetext import write_control

if TYPE_CHECKING:
    from lvstop.model.ipvs import ConnEntry, IpvsSnapshot, RealServer, Service, Stats
    from lvstop.track.rates import Rates

NAME = "dump"
HELP = "print the IPVS table once (like ipvsadm -Ln, with rates), or as JSON"

_FAMILY_ORDER = {"inet": 2, "inet6": 10}
_PROTO_ORDER = {"tcp": 6, "udp": 17, "sctp": 132}
_FORWARD_LABEL = {
    "masq": "Masq",
    "local": "Local",
    "tunnel": "Tunnel",
    "route": "Route",
    "bypass": "Bypass",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    view = parser.add_mutually_exclusive_group()
    view.add_argument(
        "--stats",
        action="store_true",
        help="counters since they were zeroed: conns, packets, bytes",
    )
    view.add_argument(
        "--rate", action="store_true", help="rates: CPS, packets/s and bytes/s in and out"
    )
    view.add_argument(
        "--conns",
        action="store_true",
        help="the connection table (/proc/net/ip_vs_conn), like ipvsadm -Lnc",
    )
    view.add_argument(
        "--conn-counts",
        action="store_true",
        help="connections counted per service, real server and state",
    )
    view.add_argument(
        "--timeouts",
        action="store_true",
        help="tcp / tcpfin / udp timeouts and the connection-sync daemons",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the lvstop.dump/1 JSON document (with --conns: plus "
        "'connections'; with --conn-counts: plus 'connection_counts')",
    )
    parser.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="read twice, SECONDS apart, and show lvstop's own rates from the "
        "counter deltas instead of the kernel's 2 s estimates",
    )
    parser.add_argument(
        "--exact", action="store_true", help="exact numbers (default: K/M/G suffixes like ipvsadm)"
    )
    parser.add_argument(
        "--nosort", action="store_true", help="kernel order instead of ipvsadm's sort order"
    )


# -- ordering like ipvsadm ------------------------------------------------------------------------


def _addr_int(address: str | None) -> int:
    return 0 if address is None else int(ipaddress.ip_address(address))


def service_order(svc: Service) -> tuple[int, int, int, int, int]:
    return (
        svc.fwmark or 0,
        _FAMILY_ORDER.get(svc.family, 99),
        _PROTO_ORDER.get(svc.protocol, 0),
        _addr_int(svc.address),
        svc.port or 0,
    )


def real_server_order(rs: RealServer) -> tuple[int, int, int]:
    return (_FAMILY_ORDER.get(rs.family, 99), _addr_int(rs.address), rs.port)


def sorted_services(snapshot: IpvsSnapshot, sort: bool = True) -> list[Service]:
    from dataclasses import replace

    if not sort:
        return list(snapshot.services)
    return [
        replace(svc, real_servers=tuple(sorted(svc.real_servers, key=real_server_order)))
        for svc in sorted(snapshot.services, key=service_order)
    ]


# -- formatting ---------------------------------------------------------------------------------


def human(n: float, exact: bool) -> str:
    """ipvsadm's number style: exact below 100 million (or with --exact), else M / G / T."""
    value = int(n)
    if exact or value < 100_000_000:
        return str(value)
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6)):
        if value >= size * 100:
            return f"{value // size}{unit}"
    return str(value)


def service_line(svc: Service) -> str:
    parts = [f"{svc.label} {svc.scheduler}"]
    sched_flags = [f for f in svc.flags if f not in ("persistent", "one-packet")]
    if sched_flags:
        parts.append(f"({','.join(sched_flags)})")
    if "persistent" in svc.flags:
        parts.append(f"persistent {svc.persistence_timeout}")
        full = 128 if svc.family == "inet6" else 32
        if svc.persistence_mask != full:
            if svc.family == "inet6":
                parts.append(f"mask {svc.persistence_mask}")
            else:
                mask = ipaddress.IPv4Network(f"0.0.0.0/{svc.persistence_mask}").netmask
                parts.append(f"mask {mask}")
    if svc.persistence_engine:
        parts.append(f"pe {svc.persistence_engine}")
    if "one-packet" in svc.flags:
        parts.append("ops")
    return " ".join(parts)


def _rates_of(key: str, s: Stats, rates: dict[str, Rates] | None) -> tuple[float, ...]:
    """lvstop's rates of ``key`` if it measured them, else the kernel's in its counters."""
    if rates is None:
        return (s.cps, s.inpps, s.outpps, s.inbps, s.outbps)
    r = rates.get(key)
    return (0.0,) * 5 if r is None else (r.cps, r.inpps, r.outpps, r.inbps, r.outbps)


def render_table(
    services: Iterable[Service],
    service_stats: Mapping[str, Stats],
    mode: str,
    exact: bool,
    rates: dict[str, Rates] | None,
    interval: float | None,
    out: TextIO,
) -> None:
    from lvstop.model.ipvs import ZERO_STATS

    w = out.write
    source = (
        f"lvstop's rates over {interval:g} s"
        if rates is not None
        else "kernel's rate estimates (2 s EWMA)"
    )
    if mode == "stats":
        w("Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n")
        w("  -> RemoteAddress:Port\n")
    elif mode == "rate":
        w(f"Rates: {source}\n")
        w("Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n")
        w("  -> RemoteAddress:Port\n")
    else:
        w(f"Rates: {source}; InBPS in bytes/s\n")
        w("Prot LocalAddress:Port Scheduler Flags\n")
        w(
            f"{'  -> RemoteAddress:Port':<33}{'Forward':<7} {'Weight':<6} {'ActiveConn':<10} "
            f"{'InActConn':<10}" + "".join(f" {h:>8}" for h in ("CPS", "InPPS", "InBPS")) + "\n"
        )

    def nums(values: Iterable[float]) -> str:
        return "".join(f" {human(v, exact):>8}" for v in values)

    for svc in services:
        key = svc.key
        s = service_stats.get(key, ZERO_STATS)
        if mode == "stats":
            w(f"{svc.label:<33}{nums((s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes))}\n")
        elif mode == "rate":
            w(f"{svc.label:<33}{nums(_rates_of(key, s, rates))}\n")
        else:
            r = _rates_of(key, s, rates)
            w(f"{service_line(svc):<69}{nums((r[0], r[1], r[3]))}\n")
        for rs in svc.real_servers:
            ep = f"  -> {rs.endpoint}"
            if mode == "stats":
                s = rs.stats
                w(f"{ep:<33}{nums((s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes))}\n")
            elif mode == "rate":
                w(f"{ep:<33}{nums(_rates_of(rs.key, rs.stats, rates))}\n")
            else:
                r = _rates_of(rs.key, rs.stats, rates)
                fwd = _FORWARD_LABEL.get(rs.forward, rs.forward)
                w(
                    f"{ep:<33}{fwd:<7} {rs.weight:<6} {rs.active_conns:<10} "
                    f"{rs.inactive_conns:<10}{nums((r[0], r[1], r[3]))}\n"
                )


def render_timeouts(snapshot: IpvsSnapshot, out: TextIO) -> None:
    t = snapshot.timeouts
    if t is not None:
        out.write(f"Timeout (tcp tcpfin udp): {t.tcp} {t.tcpfin} {t.udp}\n")
    if not snapshot.daemons:
        out.write("Connection sync: no daemon running\n")
    for d in snapshot.daemons:
        extra = ""
        if d.mcast_group:
            extra = (
                f", maxlen={d.sync_maxlen}, group={d.mcast_group}, "
                f"port={d.mcast_port}, ttl={d.mcast_ttl}"
            )
        out.write(f"{d.state} sync daemon (mcast={d.interface}, syncid={d.syncid}{extra})\n")


def _fmt_expiry(seconds: int) -> str:
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def render_conns(entries: Iterable[ConnEntry], out: TextIO) -> None:
    out.write("pro expire state       source             virtual            destination\n")
    for e in entries:
        out.write(
            f"{e.protocol.upper():<3} {_fmt_expiry(e.expires):<6} {e.state:<11} "
            f"{e.client_endpoint:<18} {e.virtual_endpoint:<18} {e.real_endpoint}\n"
        )


# -- run ------------------------------------------------------------------------------------------


def _progress_printer(expected: int) -> Callable[[int], None]:
    """Progress on stderr for big tables (only when stderr is a terminal)."""
    if not sys.stderr.isatty():
        return lambda n: None

    def show(n: int) -> None:
        total = f" of ~{expected:,}" if expected else ""
        write_control(sys.stderr, "\r")
        sys.stderr.write(f"reading connections: {n:,}{total}")
        sys.stderr.flush()

    return show


def run(args: argparse.Namespace) -> int:
    from lvstop.sources.ipvs import IpvsPermissionError, IpvsReader

    if args.interval is not None and not (0 < args.interval <= 3600):
        raise LvstopError("--interval must be between 0 and 3600 seconds")
    conn_view = (args.conns or args.conn_counts) and not args.json
    # one read, or two --interval apart: the memo (keeping each message to reuse unchanged
    # objects) pays only on the second
    with IpvsReader(memo=args.interval is not None) as reader:
        try:
            snapshot = reader.read()
        except IpvsPermissionError:
            if not conn_view:
                raise
            # /proc/net/ip_vs_conn is world-readable: the connection views need no netlink
            from lvstop.model.ipvs import IpvsSnapshot

            snapshot = IpvsSnapshot()
        rates = None
        if args.interval is not None:
            from lvstop.track.rates import RateTracker

            tracker = RateTracker(history=2)
            tracker.update(snapshot)
            time.sleep(args.interval)
            snapshot = reader.read()
            rates = tracker.update(snapshot)
    out = sys.stdout
    services = sorted_services(snapshot, not args.nosort)

    conn_entries = None
    conn_counts = None
    if args.conns or args.conn_counts:
        from lvstop.sources import conns as conns_mod

        expected = sum(rs.active_conns + rs.inactive_conns for _s, rs in snapshot.real_servers())
        progress = _progress_printer(expected)
        if args.conns:
            conn_entries, warnings = conns_mod.read_conns(progress=progress)
        else:
            conn_counts = conns_mod.read_conn_counts(progress=progress)
            warnings = []
        if sys.stderr.isatty():
            write_control(sys.stderr, "\r\033[K")
        for warning in warnings[:10]:
            print(f"lvstop: warning: {warning}", file=sys.stderr)
        if len(warnings) > 10:
            print(
                f"lvstop: warning: … and {len(warnings) - 10} more unparsable lines",
                file=sys.stderr,
            )

    if args.json:
        from dataclasses import replace

        doc = replace(snapshot, services=tuple(services)).to_dict()
        if rates is not None:
            doc["lvstop_rates"] = {
                "interval": args.interval,
                "rates": {
                    k: {
                        "cps": r.cps,
                        "inpps": r.inpps,
                        "outpps": r.outpps,
                        "inbps": r.inbps,
                        "outbps": r.outbps,
                    }
                    for k, r in rates.items()
                },
            }
        if conn_entries is not None:
            doc["connections"] = [e.to_dict() for e in conn_entries]
        if conn_counts is not None:
            doc["connection_counts"] = [c.to_dict() for c in conn_counts]
        json.dump(doc, out, indent=1)
        out.write("\n")
        return 0

    if args.timeouts:
        render_timeouts(snapshot, out)
    elif conn_entries is not None:
        render_conns(conn_entries, out)
    elif conn_counts is not None:
        out.write("pro virtual              destination          state        count\n")
        for c in conn_counts:
            out.write(
                f"{c.protocol.upper():<3} {c.virtual_endpoint:<20} {c.real_endpoint:<20} "
                f"{c.state:<12} {c.count}\n"
            )
    else:
        mode = "stats" if args.stats else "rate" if args.rate else "list"
        render_table(services, snapshot.service_stats, mode, args.exact, rates, args.interval, out)
    return 0
