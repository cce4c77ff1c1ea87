"""Checks for a DR / TUN real server: each VIP on lo (or a dummy device) as /32, ARP kept
quiet (arp_ignore=1, arp_announce=2 on ``all`` and the device) and rp_filter not dropping the
VIP's traffic."""

from __future__ import annotations

from lvstop.doctor import CheckResult, fail, ok, skip
from lvstop.doctor.facts import Facts


def checks(facts: Facts) -> list[CheckResult]:
    if not facts.vips:
        return [
            skip(
                "rs.vip",
                "no VIP known: none on lo or a dummy device (give the director's config with "
                "--config to name them)",
            )
        ]
    devices = _vip_devices(facts)
    return [
        vip_on_lo(facts),
        arp_ignore(facts, devices),
        arp_announce(facts, devices),
        rp_filter(facts, devices),
    ]


def _vip_devices(facts: Facts) -> list[str]:
    devs = [a.device for a in facts.addresses if a.address in facts.vips]
    return list(dict.fromkeys(devs)) or ["lo"]


def vip_on_lo(facts: Facts) -> CheckResult:
    problems: list[str] = []
    fixes: list[str] = []
    for vip in facts.vips:
        held = [a for a in facts.addresses if a.address == vip]
        full = 128 if ":" in vip else 32
        if not held:
            problems.append(f"{vip} is not on this host")
            fixes.append(f"ip addr add {vip}/{full} dev lo")
            continue
        for addr in held:
            if addr.kind not in ("loopback", "dummy"):
                problems.append(
                    f"{vip} is on {addr.device}: this real server answers ARP for the VIP and "
                    "steals it from the director"
                )
                fixes.append(
                    f"ip addr del {vip}/{addr.prefixlen} dev {addr.device}; "
                    f"ip addr add {vip}/{full} dev lo"
                )
            elif not addr.host_route:
                problems.append(
                    f"{vip}/{addr.prefixlen} on {addr.device}: the whole /{addr.prefixlen} "
                    "becomes local, so this host cannot reach its neighbours"
                )
                fixes.append(
                    f"ip addr del {vip}/{addr.prefixlen} dev {addr.device}; "
                    f"ip addr add {vip}/{full} dev {addr.device}"
                )
    if problems:
        return fail("rs.vip_on_lo", "; ".join(problems), "; ".join(fixes))
    return ok("rs.vip_on_lo", f"{', '.join(facts.vips)} on lo/dummy as /32")


def _sysctl_check(facts: Facts, devices: list[str], name: str, want: int, why: str) -> CheckResult:
    check_id = f"rs.{name}"
    bad = []
    for dev in ["all", *devices]:
        value = facts.sysctl(f"net/ipv4/conf/{dev}/{name}")
        if value is None:
            continue
        if value != want:
            bad.append(f"{dev}={value}")
    if bad:
        fix = "; ".join(f"sysctl -w net.ipv4.conf.{b.split('=')[0]}.{name}={want}" for b in bad)
        return fail(
            check_id,
            f"{name} should be {want} on all and {', '.join(devices)} ({', '.join(bad)}): {why}",
            fix + " (and persist in /etc/sysctl.d/)",
        )
    return ok(check_id, f"{name}={want} on all and {', '.join(devices)}")


def arp_ignore(facts: Facts, devices: list[str]) -> CheckResult:
    return _sysctl_check(
        facts,
        devices,
        "arp_ignore",
        1,
        "the real server answers ARP for the VIP and clients bypass the director",
    )


def arp_announce(facts: Facts, devices: list[str]) -> CheckResult:
    return _sysctl_check(
        facts,
        devices,
        "arp_announce",
        2,
        "ARP requests go out with the VIP as source and poison the neighbours' caches",
    )


def rp_filter(facts: Facts, devices: list[str]) -> CheckResult:
    """The kernel uses max(all, device): 1 (strict) drops TUN traffic arriving on tunl0."""
    tunnels = sorted(
        {a.device for a in facts.addresses if a.kind in ("ipip", "gre", "gretap")}
        | ({"tunl0"} if facts.sysctl("net/ipv4/conf/tunl0/rp_filter") is not None else set())
    )
    allv = facts.sysctl("net/ipv4/conf/all/rp_filter") or 0
    bad = []
    for dev in tunnels:
        value = max(allv, facts.sysctl(f"net/ipv4/conf/{dev}/rp_filter") or 0)
        if value == 1:
            bad.append(dev)
    if bad:
        return fail(
            "rs.rp_filter",
            f"strict rp_filter on {', '.join(bad)}: decapsulated packets to the VIP are dropped "
            "(their source is not routed via the tunnel)",
            "; ".join(f"sysctl -w net.ipv4.conf.{d}.rp_filter=2" for d in bad)
            + "; sysctl -w net.ipv4.conf.all.rp_filter=2",
        )
    return ok("rs.rp_filter", f"rp_filter (all={allv}) does not drop the VIP's traffic")
