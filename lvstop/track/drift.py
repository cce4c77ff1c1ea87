"""Config × keepalived × kernel: what keepalived was told, what it thinks, what the kernel does.

Pure: ``compute_drift(config, ipvs, runtime, wire_masters, local_addresses)`` takes frozen
snapshots (``lvstop.model.keepalived``, ``lvstop.model.ipvs``) and returns verdicts; no I/O.

Per configured real server (``RealServerDrift.verdict``):

- ``ok``        in the kernel with its configured weight;
- ``adjusted``  in the kernel with the weight keepalived's checker set (misc_dynamic ...);
- ``removed``   not in the kernel because its checker fails (keepalived says which);
- ``inhibited`` in the kernel at weight 0: inhibit_on_failure and its checker fails;
- ``changed``   in the kernel with a weight neither the config nor keepalived gave it: set by
  hand, and a keepalived reload will undo it (say so before a drain);
- ``absent``    not in the kernel although keepalived does not report a failing checker
  (removed by hand, or no keepalived state to tell);
- ``unknown``   in the kernel but not in the config: added by hand (keepalived never removes
  it).

Per virtual server: ``ok``, ``missing`` (configured, not in the kernel), ``sorry`` (its
sorry server is in the table: every real server is down), ``quorum-lost``. Per VRRP instance:
its name, VRID and VIPs (so the dashboard can say "VI_1"), the state keepalived reports and the
state the wire shows for this host.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lvstop.model.ipvs import IpvsSnapshot, Service, endpoint, service_key
from lvstop.model.jsonform import JsonForm, JsonModel, where_keys
from lvstop.model.keepalived import (
    NOWHERE,
    KeepalivedConfig,
    KeepalivedRuntime,
    RealServer,
    RealServerState,
    VirtualServer,
    VirtualServerState,
    Where,
)

RS_VERDICTS = ("ok", "adjusted", "removed", "inhibited", "changed", "absent", "unknown")
VS_VERDICTS = ("ok", "missing", "sorry", "quorum-lost")


@dataclass(frozen=True, slots=True)
class RealServerDrift(JsonModel):
    service_key: str  # the kernel's key (tcp:10.0.5.96:8888)
    address: str
    port: int
    verdict: str
    detail: str
    configured_weight: int | None = None
    kernel_weight: int | None = None
    keepalived_weight: int | None = None
    #: the failing checkers as keepalived reports them ("TCP_CHECK :8888")
    failing_checks: tuple[str, ...] = ()
    where: Where = NOWHERE

    JSON: ClassVar[JsonForm] = JsonForm(
        head={"key": lambda rs: rs.key}, spread={"where": where_keys}
    )

    @property
    def key(self) -> str:
        return f"{self.service_key}->{endpoint(self.address, self.port)}"


@dataclass(frozen=True, slots=True)
class VirtualServerDrift(JsonModel):
    key: str
    label: str  # as written in the config (10.0.5.96:8888, fwmark 1, group VSG_1)
    verdict: str
    detail: str
    real_servers: tuple[RealServerDrift, ...] = ()
    sorry_active: bool = False
    quorum_lost: bool = False
    where: Where = NOWHERE

    JSON: ClassVar[JsonForm] = JsonForm(spread={"where": where_keys}, late=("real_servers",))


@dataclass(frozen=True, slots=True)
class InstanceDrift(JsonModel):
    name: str
    virtual_router_id: int | None
    family: str
    vips: tuple[str, ...]
    configured_state: str  # MASTER / BACKUP (BACKUP when not written)
    priority: int
    keepalived_state: str | None  # None: no keepalived dump
    wire_state: str | None  # MASTER / BACKUP as the adverts show this host; None: not seen
    agree: bool | None  # keepalived vs wire; None when either is unknown
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Drift(JsonModel):
    virtual_servers: tuple[VirtualServerDrift, ...] = ()
    instances: tuple[InstanceDrift, ...] = ()
    #: kernel services keepalived's config does not mention
    foreign_services: tuple[str, ...] = ()

    def real_server(self, key: str) -> RealServerDrift | None:
        for vs in self.virtual_servers:
            for rs in vs.real_servers:
                if rs.key == key:
                    return rs
        return None

    def service(self, key: str) -> VirtualServerDrift | None:
        for vs in self.virtual_servers:
            if vs.key == key:
                return vs
        return None

    def instance_name(self, vrid: int, family: str = "inet") -> str | None:
        for inst in self.instances:
            if inst.virtual_router_id == vrid and inst.family == family:
                return inst.name
        return None

    def vip_name(self, address: str) -> str | None:
        for inst in self.instances:
            if address in (v.split("/")[0] for v in inst.vips):
                return inst.name
        return None

    def drain_warning(self, key: str) -> str | None:
        """What to tell someone about to drain/reweight ``key`` by hand (None: nothing).

        keepalived rewrites the weight of every real server it manages on a reload and on a
        checker transition, so a drain done with ipvsadm/lvstop does not last."""
        rs = self.real_server(key)
        if rs is None or rs.verdict == "unknown" or rs.configured_weight is None:
            return None
        # a config read through keepalived's /proc/PID/root is named as keepalived names it
        place = re.sub(r"^/proc/\d+/root(?=/)", "", str(rs.where))
        where = f" ({place})" if rs.where.file else ""
        return (
            f"keepalived manages this real server{where}: a reload or a checker transition "
            f"sets its weight back to {rs.configured_weight}; drain it in keepalived.conf "
            "(weight 0) to make it last"
        )

    def problems(self) -> list[str]:
        """One line per thing that is not as configured."""
        out = []
        for vs in self.virtual_servers:
            if vs.verdict != "ok":
                out.append(f"{vs.label}: {vs.detail}")
            for rs in vs.real_servers:
                if rs.verdict not in ("ok", "adjusted"):
                    out.append(f"{vs.label} -> {endpoint(rs.address, rs.port)}: {rs.detail}")
        for inst in self.instances:
            if inst.agree is False:
                out.append(f"{inst.name}: {inst.detail}")
        return out


# ---------------------------------------------------------------------------------------------


def _kernel_keys(config: KeepalivedConfig, vs: VirtualServer) -> list[str]:
    """The kernel service keys a configured virtual server becomes."""
    proto = vs.protocol.lower()
    if vs.fwmark is not None:
        return [service_key("fwmark", vs.family, None, None, vs.fwmark)]
    if vs.address is not None and vs.port is not None:
        return [service_key(proto, vs.family, vs.address, vs.port, None)]
    group = config.group(vs.group or "")
    keys: list[str] = []
    if group is None:
        return keys
    for entry in group.entries:
        if entry.fwmark is not None:
            keys.append(service_key("fwmark", vs.family, None, None, entry.fwmark))
        else:
            for addr in entry.addresses():
                keys.append(service_key(proto, vs.family, addr, entry.port or 0, None))
    return keys


def _state_for(
    runtime: KeepalivedRuntime | None, config: KeepalivedConfig, vs: VirtualServer
) -> VirtualServerState | None:
    if runtime is None or runtime.virtual_servers is None:
        return None
    for state in runtime.virtual_servers:
        if vs.group is not None and state.group == vs.group:
            return state
        if vs.fwmark is not None and state.fwmark == vs.fwmark:
            return state
        if (
            vs.address is not None
            and state.address == vs.address
            and state.port == vs.port
            and (state.protocol or "TCP").upper() == vs.protocol
        ):
            return state
    return None


def _rs_state(state: VirtualServerState | None, rs: RealServer) -> RealServerState | None:
    if state is None:
        return None
    for item in state.real_servers:
        if item.address == rs.address and item.port == (rs.port or 0):
            return item
    return None


def _failing(rs_state: RealServerState | None, rs: RealServer) -> tuple[str, ...]:
    if rs_state is None:
        return ()
    failing = [c for c in rs_state.checkers if not c.up]
    if not failing:
        return ()
    described = []
    for chk in failing:
        match = next((c for c in rs.checks if c.type == chk.type), None)
        described.append(match.describe() if match is not None else chk.type)
    return tuple(dict.fromkeys(described))


def _rs_verdict(
    key: str,
    rs: RealServer,
    kernel: Service | None,
    rs_state: RealServerState | None,
) -> RealServerDrift:
    port = rs.port or 0
    kernel_rs = kernel.real_server(endpoint(rs.address, port)) if kernel is not None else None
    ka_weight = None if rs_state is None else rs_state.effective_weight
    ka_down = rs_state is not None and (not rs_state.alive or rs_state.failed_checkers > 0)
    failing = _failing(rs_state, rs)
    checks_text = ", ".join(failing) or ", ".join(c.describe() for c in rs.checks) or "checker"
    common: dict[str, Any] = {
        "service_key": key,
        "address": rs.address,
        "port": port,
        "configured_weight": rs.weight,
        "keepalived_weight": ka_weight,
        "failing_checks": failing,
        "where": rs.where,
    }
    if kernel_rs is None:
        if ka_down:
            return RealServerDrift(
                verdict="removed",
                detail=f"removed by keepalived: {checks_text} failing",
                **common,
            )
        if rs_state is None:
            return RealServerDrift(
                verdict="absent",
                detail="not in the kernel table: its checker failing or removed by hand "
                "(no keepalived state to tell)",
                **common,
            )
        return RealServerDrift(
            verdict="absent",
            detail="not in the kernel table although keepalived reports it up: removed by "
            "hand (a keepalived reload puts it back)",
            **common,
        )
    kweight = kernel_rs.weight
    common["kernel_weight"] = kweight
    if (
        kweight == 0
        and rs.inhibit_on_failure
        and (ka_down or rs_state is None)
        and kweight != rs.weight
    ):
        return RealServerDrift(
            verdict="inhibited",
            detail=f"inhibited (weight 0, inhibit_on_failure): {checks_text} failing",
            **common,
        )
    if kweight == rs.weight:
        if ka_down and rs_state is not None and rs_state.in_ipvs is False:
            return RealServerDrift(
                verdict="absent",
                detail="in the kernel although keepalived removed it: added back by hand",
                **common,
            )
        return RealServerDrift(verdict="ok", detail="as configured", **common)
    if ka_weight is not None and kweight == ka_weight:
        return RealServerDrift(
            verdict="adjusted",
            detail=f"weight {kweight} set by keepalived (configured {rs.weight})",
            **common,
        )
    seen = f"keepalived's {ka_weight}" if ka_weight is not None else "no keepalived state"
    return RealServerDrift(
        verdict="changed",
        detail=f"weight {kweight} set by hand (config {rs.weight}, {seen}): a keepalived "
        "reload or a checker transition will put it back",
        **common,
    )


def compute_drift(
    config: KeepalivedConfig,
    ipvs: IpvsSnapshot | None,
    runtime: KeepalivedRuntime | None = None,
    wire_masters: Mapping[tuple[str, int], str] | None = None,
    local_addresses: Collection[str] = (),
) -> Drift:
    """Line up the config, keepalived's own state and the kernel table.

    ``wire_masters`` maps (family, VRID) to the source address of the master the adverts show;
    ``local_addresses`` are this host's addresses (to tell whether the master is us).
    """
    servers: list[VirtualServerDrift] = []
    configured_keys: set[str] = set()
    for vs in config.virtual_servers:
        state = _state_for(runtime, config, vs)
        keys = _kernel_keys(config, vs)
        if not keys:
            servers.append(
                VirtualServerDrift(
                    key="",
                    label=vs.label,
                    verdict="missing",
                    detail=f"group {vs.group} is not defined",
                    where=vs.where,
                )
            )
            continue
        for key in keys:
            configured_keys.add(key)
            servers.append(_vs_drift(vs, key, ipvs, state))
    foreign = tuple(
        svc.key
        for svc in (ipvs.services if ipvs is not None else ())
        if svc.key not in configured_keys
    )
    instances = _instances(config, runtime, wire_masters, local_addresses)
    return Drift(tuple(servers), instances, foreign)


def _vs_drift(
    vs: VirtualServer,
    key: str,
    ipvs: IpvsSnapshot | None,
    state: VirtualServerState | None,
) -> VirtualServerDrift:
    label = vs.label if vs.group is None else f"{vs.label} ({key})"
    kernel = ipvs.service(key) if ipvs is not None else None
    rs_drift = [_rs_verdict(key, rs, kernel, _rs_state(state, rs)) for rs in vs.real_servers]
    configured = {endpoint(rs.address, rs.port or 0) for rs in vs.real_servers}
    sorry_ep = None
    if vs.sorry_server is not None:
        sorry_port = vs.sorry_server.port if vs.sorry_server.port is not None else (vs.port or 0)
        sorry_ep = endpoint(vs.sorry_server.address, sorry_port)
    sorry_active = False
    if kernel is not None:
        for krs in kernel.real_servers:
            if krs.endpoint in configured:
                continue
            if krs.endpoint == sorry_ep:
                sorry_active = True
                continue
            rs_drift.append(
                RealServerDrift(
                    service_key=key,
                    address=krs.address,
                    port=krs.port,
                    verdict="unknown",
                    detail="in the kernel but not in keepalived's config: added by hand",
                    kernel_weight=krs.weight,
                )
            )
    if state is not None:
        quorum_lost = not state.quorum_up
    else:
        live = sum(d.kernel_weight or 0 for d in rs_drift if d.verdict in ("ok", "adjusted"))
        quorum_lost = kernel is not None and vs.quorum > 1 and live < vs.quorum
    if kernel is None:
        verdict = "missing"
        detail = "configured but not in the kernel table"
        if ipvs is None:
            detail = "kernel table not read"
    elif sorry_active:
        verdict = "sorry"
        detail = f"sorry server {sorry_ep} active: every real server is down"
    elif quorum_lost:
        verdict = "quorum-lost"
        detail = f"quorum {vs.quorum} lost (hysteresis {vs.hysteresis})"
    else:
        verdict = "ok"
        detail = "in the kernel table"
    return VirtualServerDrift(
        key=key,
        label=label,
        verdict=verdict,
        detail=detail,
        real_servers=tuple(rs_drift),
        sorry_active=sorry_active,
        quorum_lost=quorum_lost,
        where=vs.where,
    )


def _instances(
    config: KeepalivedConfig,
    runtime: KeepalivedRuntime | None,
    wire_masters: Mapping[tuple[str, int], str] | None,
    local_addresses: Collection[str],
) -> tuple[InstanceDrift, ...]:
    out: list[InstanceDrift] = []
    for inst in config.vrrp_instances:
        ka = runtime.instance(inst.name) if runtime is not None else None
        ka_state = None if ka is None else ka.state
        wire_state = None
        if wire_masters is not None and inst.virtual_router_id is not None:
            master = wire_masters.get((inst.family, inst.virtual_router_id))
            if master is not None:
                wire_state = "MASTER" if master in local_addresses else "BACKUP"
        agree = None
        detail = ""
        if ka_state is not None and wire_state is not None:
            ka_master = ka_state == "MASTER"
            agree = ka_master == (wire_state == "MASTER")
            if not agree:
                detail = f"keepalived says {ka_state}, the wire shows this host as {wire_state}"
        out.append(
            InstanceDrift(
                name=inst.name,
                virtual_router_id=inst.virtual_router_id,
                family=inst.family,
                vips=tuple(v.address for v in inst.virtual_ipaddress),
                configured_state=inst.state or "BACKUP",
                priority=inst.priority,
                keepalived_state=ka_state,
                wire_state=wire_state,
                agree=agree,
                detail=detail,
            )
        )
    return tuple(out)
