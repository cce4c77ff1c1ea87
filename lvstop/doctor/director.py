"""Checks for a director (a host that balances with IPVS and runs keepalived)."""

from __future__ import annotations

import ipaddress

from lvstop.doctor import CheckResult, fail, ok, skip, warn
from lvstop.doctor.facts import Facts


def checks(facts: Facts) -> list[CheckResult]:
    return [
        ipvs_present(facts),
        ip_forward(facts),
        ipvs_timeouts(facts),
        expire_nodest_conn(facts),
        expire_quiescent_template(facts),
        sync_daemon(facts),
        vrrp_strict(facts),
        nopreempt(facts),
        sorry_and_local(facts),
        foreign_vrid(facts),
        config_valid(facts),
        running(facts),
    ]


def ipvs_present(facts: Facts) -> CheckResult:
    if facts.ipvs_present:
        return ok("ipvs.present", "the kernel has IPVS (/proc/net/ip_vs)")
    return fail(
        "ipvs.present",
        "no IPVS in this kernel (/proc/net/ip_vs missing): nothing can be balanced",
        "modprobe ip_vs (and the schedulers you use: ip_vs_rr, ip_vs_wrr ...)",
    )


def _lb_kinds(facts: Facts) -> set[str]:
    if facts.config is None:
        return set()
    kinds = {vs.lb_kind for vs in facts.config.virtual_servers}
    kinds |= {
        rs.lb_kind for vs in facts.config.virtual_servers for rs in vs.real_servers if rs.lb_kind
    }
    return kinds


def ip_forward(facts: Facts) -> CheckResult:
    if "NAT" not in _lb_kinds(facts):
        return skip("ip.forward", "no NAT virtual server: forwarding is not needed for DR/TUN")
    if facts.sysctl("net/ipv4/ip_forward") == 1:
        return ok("ip.forward", "ip_forward is on, as NAT needs")
    return fail(
        "ip.forward",
        "lb_kind NAT is used but net.ipv4.ip_forward is 0: replies from the real servers are "
        "dropped",
        "sysctl -w net.ipv4.ip_forward=1 (and set it in /etc/sysctl.d/)",
    )


def ipvs_timeouts(facts: Facts) -> CheckResult:
    if facts.ipvs is None or facts.ipvs.timeouts is None:
        return skip("ipvs.timeouts", facts.ipvs_error or "IPVS table not read")
    t = facts.ipvs.timeouts
    now = f"tcp {t.tcp}s tcpfin {t.tcpfin}s udp {t.udp}s"
    cfg = facts.config.global_defs.lvs_timeouts if facts.config is not None else None
    if cfg is not None:
        wanted = {"tcp": cfg.tcp, "tcpfin": cfg.tcpfin, "udp": cfg.udp}
        differ = [k for k, v in wanted.items() if v is not None and v != getattr(t, k)]
        if differ:
            return warn(
                "ipvs.timeouts",
                f"kernel {now} differs from keepalived's lvs_timeouts ({', '.join(differ)}): "
                "set by hand, undone on the next keepalived reload",
                "change lvs_timeouts in global_defs instead of ipvsadm --set",
            )
    persist = [
        vs.persistence_timeout
        for vs in (facts.config.virtual_servers if facts.config is not None else ())
        if vs.persistence_timeout
    ]
    if persist and max(persist) < t.tcpfin:
        return warn(
            "ipvs.timeouts",
            f"persistence_timeout {max(persist)}s is shorter than tcpfin {t.tcpfin}s: clients "
            "can move to another real server while their old connection is still closing",
            "raise persistence_timeout or lower the tcpfin timeout (ipvsadm --set / lvs_timeouts)",
        )
    if (t.tcp, t.tcpfin, t.udp) == (900, 120, 300):
        return warn(
            "ipvs.timeouts",
            f"{now} (the defaults): an idle client keeps its real server for 15 min, so a test "
            "from one client never seems to rotate (the notes' 900/120/300 trap)",
            "for tests: ipvsadm --set 30 10 30 (or lvs_timeouts tcp 30 tcpfin 10 udp 30); "
            "keep the defaults in production if long-lived connections matter",
        )
    return ok("ipvs.timeouts", now)


def _uses_persistence_or_inhibit(facts: Facts) -> bool:
    if facts.config is None:
        return False
    return any(
        vs.persistence_timeout or any(rs.inhibit_on_failure for rs in vs.real_servers)
        for vs in facts.config.virtual_servers
    )


def expire_nodest_conn(facts: Facts) -> CheckResult:
    value = facts.sysctl("net/ipv4/vs/expire_nodest_conn")
    if value is None:
        return skip("ipvs.expire_nodest_conn", "net.ipv4.vs.expire_nodest_conn unreadable")
    if value:
        return ok("ipvs.expire_nodest_conn", "connections to a removed real server are dropped")
    return warn(
        "ipvs.expire_nodest_conn",
        "expire_nodest_conn=0: when a checker removes a real server its clients' packets keep "
        "going to it until the connection times out",
        "sysctl -w net.ipv4.vs.expire_nodest_conn=1",
    )


def expire_quiescent_template(facts: Facts) -> CheckResult:
    value = facts.sysctl("net/ipv4/vs/expire_quiescent_template")
    if value is None:
        return skip("ipvs.expire_quiescent_template", "sysctl unreadable")
    if value:
        return ok("ipvs.expire_quiescent_template", "persistent clients leave a weight-0 server")
    if not _uses_persistence_or_inhibit(facts):
        return ok(
            "ipvs.expire_quiescent_template",
            "0, but no persistence or inhibit_on_failure is configured",
        )
    return warn(
        "ipvs.expire_quiescent_template",
        "expire_quiescent_template=0 with persistence/inhibit_on_failure: persistent clients "
        "stay on a drained or inhibited (weight 0) real server until their template expires",
        "sysctl -w net.ipv4.vs.expire_quiescent_template=1",
    )


def _two_directors(facts: Facts) -> bool:
    if facts.peer_config is not None:
        return True
    cfg = facts.config
    return cfg is not None and bool(cfg.vrrp_instances) and bool(cfg.virtual_servers)


def sync_daemon(facts: Facts) -> CheckResult:
    cfg = facts.config
    if cfg is None or not _two_directors(facts):
        return skip("ipvs.sync_daemon", "not a pair of directors")
    configured = cfg.global_defs.lvs_sync_daemon
    running = facts.ipvs.daemons if facts.ipvs is not None else ()
    if configured is not None:
        if facts.ipvs is not None and not running:
            return fail(
                "ipvs.sync_daemon",
                f"lvs_sync_daemon {configured.interface} is configured but no sync daemon runs "
                "in the kernel",
                "check keepalived's log for the sync daemon error (interface, syncid)",
            )
        return ok("ipvs.sync_daemon", f"connection sync on {configured.interface}")
    if running:
        return ok("ipvs.sync_daemon", "a connection sync daemon runs (not from keepalived)")
    return warn(
        "ipvs.sync_daemon",
        "two directors but no connection sync daemon: a failover drops every established "
        "connection (and persistence) through the VIP",
        "global_defs { lvs_sync_daemon <interface> <vrrp_instance> } on both directors",
    )


def vrrp_strict(facts: Facts) -> CheckResult:
    cfg = facts.config
    if cfg is None or not cfg.vrrp_instances:
        return skip("vrrp.strict", "no vrrp_instance")
    if not cfg.global_defs.vrrp_strict:
        return ok("vrrp.strict", "vrrp_strict is off")
    # keepalived 2.2.7 runs vrrp_strict with unicast peers (its "not supported in strict mode"
    # check never fires: tests/data/keepalived/corpus/92-strict-unicast.conf) and ignores
    # authentication under it (the effective config has no auth_type left: see differences)
    auth = [
        d.subject.removeprefix("vrrp_instance ")
        for d in cfg.differences
        if d.field == "auth_type" and "vrrp_strict" in d.reason
    ]
    extra = f"; keepalived ignores its authentication ({', '.join(auth)})" if auth else ""
    return warn(
        "vrrp.strict",
        "vrrp_strict adds firewall rules that drop everything to the VIPs except the "
        f"virtual_server ports (ping and ssh to a VIP fail){extra}",
        "remove vrrp_strict unless RFC-strict VRRP is required (notes: it 'breaks' the VIP)",
    )


def nopreempt(facts: Facts) -> CheckResult:
    cfg = facts.config
    if cfg is None or not cfg.vrrp_instances:
        return skip("vrrp.nopreempt", "no vrrp_instance")
    # the config model is effective: keepalived has already cleared such a nopreempt, and the
    # difference it recorded says so
    bad = [
        d.subject.removeprefix("vrrp_instance ")
        for d in cfg.differences
        if d.field == "nopreempt" and "MASTER" in d.reason
    ]
    if bad:
        return fail(
            "vrrp.nopreempt",
            f"nopreempt with state MASTER ({', '.join(bad)}): keepalived ignores nopreempt "
            "unless the initial state is BACKUP",
            "state BACKUP on every director of the instance; let priority choose",
        )
    return ok("vrrp.nopreempt", "no nopreempt with state MASTER")


def _is_local(address: str, facts: Facts) -> bool:
    try:
        if ipaddress.ip_address(address).is_loopback:
            return True
    except ValueError:
        return False
    return address in facts.local_addresses()


def sorry_and_local(facts: Facts) -> CheckResult:
    cfg = facts.config
    if cfg is None or not cfg.virtual_servers:
        return skip("lvs.sorry_local", "no virtual_server")
    both = [
        vs.label
        for vs in cfg.virtual_servers
        if vs.sorry_server is not None
        and any(_is_local(rs.address, facts) for rs in vs.real_servers)
    ]
    if both:
        return warn(
            "lvs.sorry_local",
            f"{', '.join(both)}: a sorry_server and a local real server together (when the "
            "local RS is down the director itself is in trouble; the sorry page cannot help)",
            "use either a sorry_server or a local real server, not both (the notes)",
        )
    return ok("lvs.sorry_local", "no virtual_server mixes sorry_server and a local real server")


def foreign_vrid(facts: Facts) -> CheckResult:
    cfg = facts.config
    if cfg is None or not cfg.vrrp_instances:
        return skip("vrrp.foreign_vrid", "no vrrp_instance")
    if facts.adverts is None:
        return skip("vrrp.foreign_vrid", facts.listen_error or "did not listen for adverts")
    ours: dict[tuple[str, int], set[str]] = {}
    for inst in cfg.vrrp_instances:
        if inst.virtual_router_id is not None:
            ours.setdefault((inst.family, inst.virtual_router_id), set()).update(
                v.ip for v in inst.virtual_ipaddress
            )
    clashes: list[str] = []
    seen_ids: set[tuple[str, int]] = set()
    for adv in facts.adverts:
        key = (adv.family, adv.vrid)
        seen_ids.add(key)
        vips = ours.get(key)
        if vips is None:
            continue
        theirs = set(adv.addresses)
        if theirs and theirs != vips:
            clashes.append(
                f"VRID {adv.vrid} from {adv.src} announces {', '.join(sorted(theirs))} "
                f"(ours: {', '.join(sorted(vips))})"
            )
    if clashes:
        return fail(
            "vrrp.foreign_vrid",
            "another cluster uses our VRID: " + "; ".join(dict.fromkeys(clashes)),
            "give one of the clusters a VRID unused on this LAN (change it on both its "
            "directors); the notes' 'invalid ip number count / bogus VRRP packet' symptom",
        )
    heard = len(facts.adverts)
    return ok("vrrp.foreign_vrid", f"{heard} adverts heard; no other cluster on our VRIDs")


def config_valid(facts: Facts) -> CheckResult:
    if facts.config_error is not None:
        return fail("keepalived.config", facts.config_error, "fix that line of the config")
    if facts.config is None:
        return skip("keepalived.config", "no keepalived config found (give --config)")
    unknown = [w for w in facts.config.warnings if "unknown keyword" in w.message]
    if facts.keepalived_test is not None:
        code, first = facts.keepalived_test
        if code != 0:
            return fail(
                "keepalived.config",
                f"keepalived -t exits {code}: {first or 'see keepalived -t -f FILE'}",
                "fix what keepalived -t -f <config> reports, then reload",
            )
    errors = facts.config.errors
    if errors:
        return fail(
            "keepalived.config",
            f"keepalived would not run this config ({len(errors)} error(s)), first {errors[0]}",
            "fix that line of the config: keepalived (or its VRRP / checker process) exits",
        )
    if unknown:
        return warn(
            "keepalived.config",
            f"{len(unknown)} unknown keyword(s), first {unknown[0]}",
            "correct or remove them: keepalived ignores them",
        )
    differences = facts.config.differences
    if differences:
        return warn(
            "keepalived.config",
            f"keepalived runs {len(differences)} value(s) other than the file says, "
            f"first {differences[0]}",
            "write what keepalived runs (see lvstop keepalived), or fix the line",
        )
    tested = " and keepalived -t" if facts.keepalived_test is not None else ""
    return ok("keepalived.config", f"{facts.config.files[0]} passes lvstop's parser{tested}")


def running(facts: Facts) -> CheckResult:
    parents = [p for p in facts.processes if p.role == "parent"]
    if parents:
        kids = sum(1 for p in facts.processes if p.role != "parent")
        return ok("keepalived.running", f"keepalived pid {parents[0].pid} with {kids} children")
    return fail(
        "keepalived.running",
        "keepalived is not running: no VIP failover, no health checks",
        "systemctl start keepalived (and enable it)",
    )
