"""Two directors' configs side by side: what must differ and what must be equal (the notes:
router_id, state and priority differ; VRID, authentication, VIPs, advert_int and every
virtual_server / real_server are the same)."""

from __future__ import annotations

from lvstop.doctor import CheckResult, fail, ok, warn
from lvstop.model.keepalived import KeepalivedConfig, VirtualServer, VrrpInstance


def checks(mine: KeepalivedConfig | None, peer: KeepalivedConfig) -> list[CheckResult]:
    if mine is None:
        return [fail("peer.config", "no local config to compare", "give --config")]
    return [
        router_id(mine, peer),
        instances(mine, peer),
        state_priority(mine, peer),
        same_fields(mine, peer),
        virtual_servers(mine, peer),
    ]


def router_id(mine: KeepalivedConfig, peer: KeepalivedConfig) -> CheckResult:
    if mine.router_id and mine.router_id == peer.router_id:
        return warn(
            "peer.router_id",
            f"both directors use router_id {mine.router_id}: their logs and mails look alike",
            "give each director its own router_id (e.g. LVS_DEVEL_master / LVS_DEVEL_backup)",
        )
    return ok("peer.router_id", f"router_id differs ({mine.router_id} / {peer.router_id})")


def _pairs(
    mine: KeepalivedConfig, peer: KeepalivedConfig
) -> list[tuple[VrrpInstance, VrrpInstance | None]]:
    out = []
    for inst in mine.vrrp_instances:
        other = peer.instance(inst.name)
        if other is None and inst.virtual_router_id is not None:
            other = peer.instance_for_vrid(inst.virtual_router_id, inst.family)
        out.append((inst, other))
    return out


def instances(mine: KeepalivedConfig, peer: KeepalivedConfig) -> CheckResult:
    missing = [i.name for i, other in _pairs(mine, peer) if other is None]
    names = {i.name for i in mine.vrrp_instances}
    vrids = {i.virtual_router_id for i in mine.vrrp_instances}
    extra = [
        i.name
        for i in peer.vrrp_instances
        if i.name not in names and i.virtual_router_id not in vrids
    ]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"only here: {', '.join(missing)}")
        if extra:
            parts.append(f"only on the peer: {', '.join(extra)}")
        return fail(
            "peer.instances",
            "vrrp_instances differ (" + "; ".join(parts) + ")",
            "define the same vrrp_instances on both directors",
        )
    return ok("peer.instances", f"{len(mine.vrrp_instances)} vrrp_instance(s) on both")


def state_priority(mine: KeepalivedConfig, peer: KeepalivedConfig) -> CheckResult:
    problems = []
    for inst, other in _pairs(mine, peer):
        if other is None:
            continue
        a, b = inst.state or "BACKUP", other.state or "BACKUP"
        if inst.priority == other.priority:
            problems.append(f"{inst.name}: both priority {inst.priority}")
        elif a == "MASTER" and b == "MASTER":
            problems.append(f"{inst.name}: state MASTER on both")
        elif a == "MASTER" and inst.priority < other.priority:
            problems.append(f"{inst.name}: MASTER here has the lower priority")
        elif b == "MASTER" and other.priority < inst.priority:
            problems.append(f"{inst.name}: MASTER on the peer has the lower priority")
    if problems:
        return fail(
            "peer.state_priority",
            "; ".join(problems),
            "one director MASTER with the higher priority, the other BACKUP with a lower one",
        )
    return ok("peer.state_priority", "state and priority differ the right way")


def same_fields(mine: KeepalivedConfig, peer: KeepalivedConfig) -> CheckResult:
    problems = []
    for inst, other in _pairs(mine, peer):
        if other is None:
            continue
        if inst.virtual_router_id != other.virtual_router_id:
            problems.append(
                f"{inst.name}: virtual_router_id {inst.virtual_router_id} vs "
                f"{other.virtual_router_id} (split brain: both become MASTER)"
            )
        if (inst.auth_type, inst.auth_pass) != (other.auth_type, other.auth_pass):
            problems.append(f"{inst.name}: authentication differs")
        mine_vips = sorted(v.address for v in inst.virtual_ipaddress)
        peer_vips = sorted(v.address for v in other.virtual_ipaddress)
        if mine_vips != peer_vips:
            problems.append(f"{inst.name}: virtual_ipaddress {mine_vips} vs {peer_vips}")
        if inst.advert_int != other.advert_int:
            problems.append(f"{inst.name}: advert_int {inst.advert_int} vs {other.advert_int}")
        if inst.version != other.version:
            problems.append(f"{inst.name}: VRRP version {inst.version} vs {other.version}")
    if problems:
        return fail(
            "peer.vrrp_equal",
            "; ".join(problems),
            "make VRID, authentication, VIPs and advert_int identical on both directors",
        )
    return ok("peer.vrrp_equal", "VRID, authentication, VIPs and advert_int are equal")


def _vs_key(vs: VirtualServer) -> str:
    return f"{vs.protocol} {vs.label}"


def _vs_shape(vs: VirtualServer) -> tuple[object, ...]:
    rs = tuple(
        sorted(
            (
                r.address,
                r.port,
                r.weight,
                r.inhibit_on_failure,
                tuple((c.type, c.connect_port) for c in r.checks),
            )
            for r in vs.real_servers
        )
    )
    sorry = None if vs.sorry_server is None else (vs.sorry_server.address, vs.sorry_server.port)
    return (vs.lb_algo, vs.lb_kind, vs.persistence_timeout, vs.quorum, sorry, rs)


def virtual_servers(mine: KeepalivedConfig, peer: KeepalivedConfig) -> CheckResult:
    a = {_vs_key(v): v for v in mine.virtual_servers}
    b = {_vs_key(v): v for v in peer.virtual_servers}
    problems = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            problems.append(f"{key} only here")
        elif key not in a:
            problems.append(f"{key} only on the peer")
        elif _vs_shape(a[key]) != _vs_shape(b[key]):
            problems.append(f"{key} differs (algorithm, kind, persistence or real servers)")
    if problems:
        return fail(
            "peer.virtual_servers",
            "; ".join(problems),
            "copy the virtual_server blocks so both directors balance the same way",
        )
    return ok("peer.virtual_servers", f"{len(a)} virtual_server(s) identical on both")
