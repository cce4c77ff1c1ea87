"""ipvsadm as the oracle: seeded table generator (for ``ipvsadm -R``) and parsers of ipvsadm's
output, plus a comparison of an lvstop ``IpvsSnapshot`` with what ipvsadm printed.

Used by the lab tests (live kernel), the host replay tests (recorded netlink bytes and the
ipvsadm output recorded at the same moment) and the benchmark.
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass, field
from typing import Any

SCHEDULERS = ("rr", "wrr", "lc", "wlc", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq")
V4_MASKS = ("255.255.255.0", "255.255.0.0", "255.0.0.0", "255.255.255.255", "255.255.255.128")
FORWARD_SWITCH = {"-g": "route", "-i": "tunnel", "-m": "masq"}
#: ipvsadm -Ln's Forward column (it has no word for bypass and prints a NULL pointer)
FORWARD_LABEL = {
    "Route": "route",
    "Tunnel": "tunnel",
    "Masq": "masq",
    "Local": "local",
    "(null)": "bypass",
}


# -- generator ------------------------------------------------------------------------------------


def generate_rules(seed: int, services: int = 40, max_rs: int = 5) -> str:
    """A seeded IPVS table as ``ipvsadm -R`` input covering every protocol, both families,
    fwmark (both families), every scheduler, persistence with masks, one-packet, the sh/mh
    flags, the sip persistence engine, every forwarding method ipvsadm can set (incl. tunnel
    types), weight 0 and thresholds. (The recorded tables depend on the order of the random
    draws: the helpers draw in the order this loop always did.)"""
    rnd = random.Random(seed)
    lines: list[str] = []
    used: set[str] = set()
    marks = iter(range(1 + seed * 1000, 1 + seed * 1000 + services))
    for i in range(services):
        sched = SCHEDULERS[i % len(SCHEDULERS)]
        v6 = rnd.random() < 0.35
        kind = rnd.choice(["-t", "-t", "-u", "--sctp-service", "-f"])
        if kind == "-f":
            mark = next(marks)
            svc = f"-f {mark}" + (" -6" if v6 else "")
            vport = 0
        else:
            vport = rnd.choice([80, 443, 53, 8888, 5060, rnd.randint(1, 65535)])
            if v6:
                vip = f"[2001:db8:{rnd.randint(0, 0xFFFF):x}::{rnd.randint(1, 0xFFFF):x}]"
            else:
                vip = f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
            svc = f"{kind} {vip}:{vport}"
        if svc in used:
            continue
        used.add(svc)
        lines.append(f"-A {svc} {' '.join(_service_options(rnd, kind, sched, v6))}")
        rs_used: set[str] = set()
        for _ in range(rnd.randint(0, max_rs)):
            line = _real_server_rule(rnd, svc, kind, vport, v6, rs_used)
            if line is not None:
                lines.append(line)
    return "\n".join(lines) + "\n"


def _service_options(rnd: random.Random, kind: str, sched: str, v6: bool) -> list[str]:
    """A generated service's scheduler, persistence, one-packet and scheduler flags."""
    opts = [f"-s {sched}"]
    persistent = rnd.random() < 0.4
    if persistent:
        opts.append(f"-p {rnd.choice([1, 60, 300, 3600, 86400])}")
        if rnd.random() < 0.6:
            if v6:
                opts.append(f"-M {rnd.choice([48, 64, 96, 112, 128])}")
            else:
                opts.append("-M " + rnd.choice(V4_MASKS))
        if kind == "-u" and rnd.random() < 0.5:
            opts.append("--pe sip")
    if kind == "-u" and rnd.random() < 0.4:  # ipvsadm: one-packet is for UDP only
        opts.append("-o")
    if sched in ("sh", "mh"):
        flags = rnd.choice(
            [[], [f"{sched}-fallback"], [f"{sched}-port"], [f"{sched}-fallback", f"{sched}-port"]]
        )
        if flags:
            opts.append("-b " + ",".join(flags))
    return opts


def _real_server_rule(
    rnd: random.Random, svc: str, kind: str, vport: int, v6: bool, rs_used: set[str]
) -> str | None:
    """One generated real server's ``-a`` rule; None when it repeats one (``rs_used``)."""
    fwd = rnd.choice(["-g", "-i", "-m"])
    rs_v6 = v6
    if rs_v6:
        rip = f"[2001:db8:ffff::{rnd.randint(1, 0xFFFF):x}]"
    else:
        rip = f"192.168.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
    if kind == "-f":
        rport = rnd.choice([0, 80]) if fwd == "-m" else 0
    else:
        rport = rnd.choice([vport, 8080, 8888]) if fwd == "-m" else vport
    rs = f"{rip}:{rport}" if rport or rs_v6 else rip
    if rs in rs_used:
        return None
    rs_used.add(rs)
    ropts = [fwd, f"-w {rnd.choice([0, 1, 1, 5, 10, 100, 65535])}"]
    if rnd.random() < 0.3:
        ropts.append(f"-x {rnd.randint(1, 5000)} -y {rnd.randint(0, 50)}")
    if fwd == "-i" and rnd.random() < 0.6:
        tun = rnd.choice(["ipip", "gue", "gre"])
        ropts.append(f"--tun-type {tun}")
        if tun == "gue":
            ropts.append(f"--tun-port {rnd.randint(1, 65535)}")
        if tun == "gue":
            ropts.append(rnd.choice(["--tun-nocsum", "--tun-csum", "--tun-remcsum"]))
        elif tun == "gre":  # ipvsadm: no remcsum with gre
            ropts.append(rnd.choice(["--tun-nocsum", "--tun-csum"]))
    return f"-a {svc} -r {rs} {' '.join(ropts)}"


def big_table(services: int, per_service: int) -> str:
    """A plain TCP table of services x real servers (for the benchmark)."""
    lines = []
    for s in range(services):
        vip = f"10.{100 + s // 65000}.{(s // 250) % 256}.{s % 250 + 1}"
        lines.append(f"-A -t {vip}:80 -s wrr")
        for r in range(per_service):
            lines.append(f"-a -t {vip}:80 -r 192.168.{r // 250}.{r % 250 + 1}:80 -m -w {r + 1}")
    return "\n".join(lines) + "\n"


# -- parsers --------------------------------------------------------------------------------------


def norm_endpoint(text: str) -> str:
    """``[2001:db8:0::1]:80`` -> ``[2001:db8::1]:80``; ``1.2.3.4:80``; bare address -> :0."""
    if text.startswith("["):
        addr, _, port = text[1:].partition("]:")
        return f"[{ipaddress.ip_address(addr)}]:{int(port or 0)}"
    if text.count(":") > 1:  # bare IPv6
        return f"[{ipaddress.ip_address(text)}]:0"
    addr, _, port = text.partition(":")
    return f"{ipaddress.ip_address(addr)}:{int(port or 0)}"


def label_key(label: str) -> str:
    """ipvsadm's service label (``TCP  10.0.5.96:8888``, ``FWM  5 IPv6``) -> lvstop key."""
    parts = label.split()
    if parts[0] == "FWM":
        return ("fwm6:" if "IPv6" in parts[2:] else "fwm:") + parts[1]
    return f"{parts[0].lower()}:{norm_endpoint(parts[1])}"


@dataclass
class SavedService:
    key: str
    scheduler: str = "wlc"
    persistent: int | None = None
    mask: int | None = None
    pe: str | None = None
    one_packet: bool = False
    sched_flags: tuple[str, ...] = ()
    real_servers: dict[str, dict[str, Any]] = field(default_factory=dict)


def _svc_key_from_args(tokens: list[str]) -> tuple[str, list[str]]:
    """Take the virtual-service switch off a -A/-a line's tokens."""
    kind, value = tokens[0], tokens[1]
    rest = tokens[2:]
    if kind == "-f":
        if rest[:1] == ["-6"]:
            return f"fwm6:{value}", rest[1:]
        return f"fwm:{value}", rest
    proto = {"-t": "tcp", "-u": "udp", "--sctp-service": "sctp"}[kind]
    return f"{proto}:{norm_endpoint(value)}", rest


def parse_save(text: str) -> dict[str, SavedService]:
    """``ipvsadm -Sn`` -> services by key, with scheduler, flags and real servers."""
    out: dict[str, SavedService] = {}
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        cmd, tokens = tokens[0], tokens[1:]
        key, rest = _svc_key_from_args(tokens)
        if cmd == "-A":
            svc = out[key] = SavedService(key)
            it = iter(rest)
            for tok in it:
                if tok == "-s":
                    svc.scheduler = next(it)
                elif tok == "-p":
                    svc.persistent = int(next(it))
                elif tok == "-M":
                    m = next(it)
                    svc.mask = (
                        ipaddress.IPv4Network(f"0.0.0.0/{m}").prefixlen if "." in m else int(m)
                    )
                elif tok == "--pe":
                    svc.pe = next(it)
                elif tok == "-o":
                    svc.one_packet = True
                elif tok == "-b":
                    svc.sched_flags = tuple(next(it).split(","))
                else:
                    raise ValueError(f"unknown -S token {tok!r} in {line!r}")
        elif cmd == "-a":
            assert rest[0] == "-r", line
            rs_ep = norm_endpoint(rest[1])
            rs: dict[str, Any] = {"tunnel_type": None, "tunnel_port": 0, "tunnel_flags": ()}
            it = iter(rest[2:])
            for tok in it:
                if tok in FORWARD_SWITCH:
                    rs["forward"] = FORWARD_SWITCH[tok]
                elif tok == "-w":
                    rs["weight"] = int(next(it))
                elif tok == "-x":
                    rs["upper"] = int(next(it))
                elif tok == "-y":
                    rs["lower"] = int(next(it))
                elif tok == "--tun-type":
                    rs["tunnel_type"] = next(it)
                elif tok == "--tun-port":
                    rs["tunnel_port"] = int(next(it))
                elif tok in ("--tun-nocsum", "--tun-csum", "--tun-remcsum"):
                    rs["tunnel_flags"] = (tok[6:],)
                else:
                    raise ValueError(f"unknown -S token {tok!r} in {line!r}")
            out[key].real_servers[rs_ep] = rs
    return out


@dataclass
class ListedService:
    key: str
    head: list[str]
    real_servers: dict[str, list[str]] = field(default_factory=dict)


_SVC_LINE = re.compile(r"^(TCP|UDP|SCTP|FWM)\s+(\S+)((?: IPv6)?)\s*(.*)$")


def parse_list(text: str) -> dict[str, ListedService]:
    """Any ``ipvsadm -Ln`` variant -> services by key: the columns after the label, and each
    real server's columns (after its endpoint)."""
    out: dict[str, ListedService] = {}
    current: ListedService | None = None
    for line in text.splitlines():
        m = _SVC_LINE.match(line)
        if m:
            label = f"{m.group(1)}  {m.group(2)}{m.group(3)}"
            current = out[label_key(label)] = ListedService(label_key(label), m.group(4).split())
            continue
        if (
            line.startswith("  -> ")
            and current is not None
            and not line.startswith("  -> RemoteAddress")
        ):
            parts = line[5:].split()
            current.real_servers[norm_endpoint(parts[0])] = parts[1:]
    return out


def parse_timeouts(text: str) -> tuple[int, int, int]:
    m = re.search(r"Timeout \(tcp tcpfin udp\): (\d+) (\d+) (\d+)", text)
    assert m, text
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def parse_daemons(text: str) -> list[dict[str, str]]:
    out = []
    for m in re.finditer(r"^(master|backup) sync daemon \((.*)\)$", text, re.MULTILINE):
        d = {"state": m.group(1)}
        for part in m.group(2).split(", "):
            k, _, v = part.partition("=")
            d[k] = v
        out.append(d)
    return out


def parse_lnc(text: str) -> list[tuple[str, str, str, str, str]]:
    """``ipvsadm -Lnc`` -> (protocol, state, source, virtual, destination), endpoints normal."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 6 or parts[0] in ("pro", "IPVS"):
            continue
        out.append(
            (
                parts[0].lower(),
                parts[2],
                norm_endpoint(parts[3]),
                norm_endpoint(parts[4]),
                norm_endpoint(parts[5]),
            )
        )
    return out


# -- comparison -----------------------------------------------------------------------------------

STAT_COLS = ("conns", "inpkts", "outpkts", "inbytes", "outbytes")
RATE_COLS = ("cps", "inpps", "outpps", "inbps", "outbps")


def compare(snapshot: Any, outputs: dict[str, str], *, counters: bool = True) -> list[str]:
    """Differences between an lvstop snapshot and ipvsadm's outputs (empty list: equal).

    ``outputs`` keys: "save" (-Sn), "stats" (-Ln --exact --stats), "rate" (-Ln --exact
    --rate), "thresholds", "persistent" (--persistent-conn), "list" (-Ln), "timeout",
    "daemon"; missing ones are skipped. ``counters=False`` skips stats/rates/conn counts
    (when traffic flows between the two reads).
    """
    diffs: list[str] = []
    ours = {svc.key: svc for svc in snapshot.services}

    if "save" in outputs:
        _compare_saved(parse_save(outputs["save"]), ours, diffs)

    def listing(name: str, svc_fields: Any, rs_fields: Any) -> None:
        if name in outputs:
            _compare_listing(name, parse_list(outputs[name]), ours, svc_fields, rs_fields, diffs)

    if counters:
        listing(
            "stats",
            lambda s: [getattr(snapshot.stats_of(s.key), c) for c in STAT_COLS],
            lambda r: [getattr(r.stats, c) for c in STAT_COLS],
        )
        listing(
            "rate",
            lambda s: [getattr(snapshot.stats_of(s.key), c) for c in RATE_COLS],
            lambda r: [getattr(r.stats, c) for c in RATE_COLS],
        )
        listing(
            "thresholds",
            None,
            lambda r: [r.upper_threshold, r.lower_threshold, r.active_conns, r.inactive_conns],
        )
        listing(
            "persistent",
            None,
            lambda r: [r.weight, r.persistent_conns, r.active_conns, r.inactive_conns],
        )
        listing(
            "list",
            lambda s: [s.scheduler],
            lambda r: [
                {v: k for k, v in FORWARD_LABEL.items()}.get(r.forward, r.forward),
                r.weight,
                r.active_conns,
                r.inactive_conns,
            ],
        )
    else:
        listing("thresholds", None, lambda r: [r.upper_threshold, r.lower_threshold])
        listing("persistent", None, lambda r: [r.weight])
        listing(
            "list",
            lambda s: [s.scheduler],
            lambda r: [
                {v: k for k, v in FORWARD_LABEL.items()}.get(r.forward, r.forward),
                r.weight,
            ],
        )

    if "timeout" in outputs and snapshot.timeouts is not None:
        t = snapshot.timeouts
        if (t.tcp, t.tcpfin, t.udp) != parse_timeouts(outputs["timeout"]):
            diffs.append(
                f"timeouts: lvstop {(t.tcp, t.tcpfin, t.udp)}, ipvsadm {outputs['timeout']!r}"
            )
    if "daemon" in outputs:
        want_d = parse_daemons(outputs["daemon"])
        got_d = [
            {"state": x.state, "mcast": x.interface, "syncid": str(x.syncid)}
            for x in snapshot.daemons
        ]
        want_cmp = [{k: w[k] for k in ("state", "mcast", "syncid")} for w in want_d]
        if sorted(got_d, key=str) != sorted(want_cmp, key=str):
            diffs.append(f"daemons: lvstop {got_d}, ipvsadm {want_cmp}")
    return diffs


def _compare_saved(saved: dict[str, SavedService], ours: dict[str, Any], diffs: list[str]) -> None:
    """``ipvsadm -Sn``'s services and real servers against lvstop's."""
    d = diffs.append
    if set(saved) != set(ours):
        d(
            f"services differ: only ipvsadm {sorted(set(saved) - set(ours))}, "
            f"only lvstop {sorted(set(ours) - set(saved))}"
        )
    for key, s in saved.items():
        svc = ours.get(key)
        if svc is None:
            continue
        full = 128 if svc.family == "inet6" else 32
        want_flags = set(s.sched_flags)
        if s.persistent is not None:
            want_flags.add("persistent")
        if s.one_packet:
            want_flags.add("one-packet")
        checks = [
            ("scheduler", svc.scheduler, s.scheduler),
            ("flags", set(svc.flags), want_flags),
            (
                "persistence_timeout",
                svc.persistence_timeout,
                s.persistent if s.persistent is not None else 0,
            ),
            ("persistence_engine", svc.persistence_engine, s.pe),
        ]
        if s.persistent is not None:
            checks.append(
                ("persistence_mask", svc.persistence_mask, s.mask if s.mask is not None else full)
            )
        for name, got, want in checks:
            if got != want:
                d(f"{key} {name}: lvstop {got!r}, ipvsadm {want!r}")
        rs_ours = {rs.endpoint: rs for rs in svc.real_servers}
        if set(rs_ours) != set(s.real_servers):
            d(f"{key} real servers: lvstop {sorted(rs_ours)}, ipvsadm {sorted(s.real_servers)}")
            continue
        for ep, want_rs in s.real_servers.items():
            _compare_saved_real_server(rs_ours[ep], want_rs, diffs)


def _compare_saved_real_server(rs: Any, want_rs: dict[str, Any], diffs: list[str]) -> None:
    got_rs = {
        "forward": rs.forward,
        "weight": rs.weight,
        "tunnel_type": rs.tunnel_type if rs.forward == "tunnel" else None,
        "tunnel_port": rs.tunnel_port,
        "tunnel_flags": rs.tunnel_flags,
    }
    if rs.forward == "tunnel" and want_rs.get("tunnel_type") is None:
        # ipvsadm -S omits the default tunnel type (ipip, port 0, nocsum)
        want_rs = {**want_rs, "tunnel_type": "ipip", "tunnel_flags": ("nocsum",)}
    if want_rs.get("tunnel_type") and not want_rs["tunnel_flags"]:
        want_rs = {**want_rs, "tunnel_flags": ("nocsum",)}
    for name in ("forward", "weight", "tunnel_type", "tunnel_port", "tunnel_flags"):
        if name in want_rs and got_rs[name] != want_rs[name]:
            diffs.append(f"{rs.key} {name}: lvstop {got_rs[name]!r}, ipvsadm {want_rs[name]!r}")


def _compare_listing(
    name: str,
    listed: dict[str, ListedService],
    ours: dict[str, Any],
    svc_fields: Any,
    rs_fields: Any,
    diffs: list[str],
) -> None:
    """One ``ipvsadm -Ln`` view's columns against the same fields of lvstop's snapshot."""
    d = diffs.append
    if set(listed) != set(ours):
        d(
            f"{name}: services differ: only ipvsadm {sorted(set(listed) - set(ours))}, "
            f"only lvstop {sorted(set(ours) - set(listed))}"
        )
        return
    for key, ls in listed.items():
        svc = ours[key]
        if svc_fields is not None:
            got = [str(v) for v in svc_fields(svc)]
            want = ls.head[: len(got)]
            if got != want:
                d(f"{name} {key}: lvstop {got}, ipvsadm {want}")
        rs_ours = {rs.endpoint: rs for rs in svc.real_servers}
        if set(rs_ours) != set(ls.real_servers):
            d(
                f"{name} {key} real servers: lvstop {sorted(rs_ours)}, "
                f"ipvsadm {sorted(ls.real_servers)}"
            )
            continue
        for ep, cols in ls.real_servers.items():
            got = [str(v) for v in rs_fields(rs_ours[ep])]
            if got != cols[: len(got)]:
                d(f"{name} {rs_ours[ep].key}: lvstop {got}, ipvsadm {cols[: len(got)]}")


IPVSADM_VIEWS = {
    "save": ["-Sn"],
    "stats": ["-Ln", "--exact", "--stats"],
    "rate": ["-Ln", "--exact", "--rate"],
    "thresholds": ["-Ln", "--thresholds"],
    "persistent": ["-Ln", "--persistent-conn"],
    "list": ["-Ln"],
    "timeout": ["-Ln", "--timeout"],
    "daemon": ["-Ln", "--daemon"],
}
