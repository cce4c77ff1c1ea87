"""What the fleet screen shows of each director: frozen views built from an agent's state.

No Textual, no I/O: ``director_view`` turns one agent's ``lvstop.agent/1`` state (the sections
of ``lvstop.agent.protocol``) into a ``Director``; ``lvstop.fleet.compare`` lines directors up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lvstop.model.ipvs import IpvsSnapshot, Service, SyncDaemon, Timeouts, stats_by_key

#: a director's connection: connecting → live; down (with the reason) → retried with backoff
CONNECTING, LIVE, DOWN = "connecting", "live", "down"


@dataclass(frozen=True, slots=True)
class Instance:
    """One keepalived vrrp_instance on one director, as that director says."""

    name: str
    vrid: int | None
    family: str
    interface: str | None
    priority: int | None
    state: str  # MASTER / BACKUP / FAULT / STOPPED ...
    #: "keepalived" (its own dump), "vips" (inferred from the VIPs held), "processes"
    source: str
    vips: tuple[str, ...]
    vips_held: tuple[str, ...]
    since: float | None


@dataclass(frozen=True, slots=True)
class WireVrid:
    """One VRID as this director's wire shows it."""

    key: str
    vrid: int
    family: str
    master: str | None
    master_priority: int | None
    master_since: float | None
    split_brain: bool
    conflict: bool
    silent: bool


@dataclass(frozen=True, slots=True)
class Director:
    """Everything the fleet screen knows of one director at one instant."""

    name: str
    status: str = CONNECTING
    reason: str = ""
    #: when the status last changed (time.time())
    since: float = 0.0
    #: seconds until the next connection attempt (down only)
    retry_in: float | None = None
    host: str = ""
    kernel: str = ""
    lvstop: str = ""
    python: str = ""
    keepalived_version: str | None = None
    capabilities: tuple[str, ...] = ()
    ipvs: IpvsSnapshot | None = None
    ipvs_error: str | None = None
    instances: tuple[Instance, ...] = ()
    wire: tuple[WireVrid, ...] = ()
    keepalived_running: bool = False
    keepalived_pid: int | None = None
    drained: Mapping[str, int] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()
    load: tuple[float, ...] | None = None
    cpu_percent: float | None = None
    #: new connections per second over the last two samples (None: not known yet)
    cps: float | None = None
    updated_at: float | None = None
    #: bytes received from this director's agent since it connected
    bytes_in: int = 0
    problems: tuple[str, ...] = ()

    @property
    def live(self) -> bool:
        return self.status == LIVE

    @property
    def can_write(self) -> bool:
        return self.live and "write" in self.capabilities

    def instance_for_vrid(self, vrid: int) -> Instance | None:
        for inst in self.instances:
            if inst.vrid == vrid:
                return inst
        return None

    @property
    def last_transition(self) -> Instance | None:
        stamped = [i for i in self.instances if i.since is not None]
        return max(stamped, key=lambda i: i.since or 0.0) if stamped else None


def _int_or_none(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)


def ipvs_from_state(state: Mapping[str, Mapping[str, Any]], wall: float) -> IpvsSnapshot:
    """The IpvsSnapshot an agent's service and real_server sections describe."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    for rs in state.get("real_server", {}).values():
        by_service.setdefault(str(rs.get("service", "")), []).append(rs)
    services = []
    for key in sorted(state.get("service", {})):
        data = dict(state["service"][key])
        data["real_servers"] = sorted(
            by_service.get(key, ()), key=lambda r: (str(r["address"]), int(r["port"]))
        )
        services.append((Service.from_dict(data), data.get("stats")))
    ipvs = state.get("ipvs", {})
    timeouts = ipvs.get("timeouts")
    return IpvsSnapshot(
        services=tuple(svc for svc, _stats in services),
        timeouts=None if not timeouts else Timeouts.from_dict(timeouts),
        daemons=tuple(SyncDaemon.from_dict(d) for d in ipvs.get("daemons") or ()),
        taken_at=wall,
        wall_time=wall,
        service_stats=stats_by_key(services),
    )


def director_view(
    name: str,
    hello: Mapping[str, Any],
    state: Mapping[str, Mapping[str, Any]],
    *,
    status: str = LIVE,
    reason: str = "",
    since: float = 0.0,
    cps: float | None = None,
    updated_at: float | None = None,
    bytes_in: int = 0,
) -> Director:
    """One live director from its hello and its current state (ValueError: malformed)."""
    try:
        instances = tuple(
            Instance(
                name=str(n),
                vrid=_int_or_none(i.get("vrid")),
                family=str(i.get("family", "inet")),
                interface=i.get("interface"),
                priority=_int_or_none(i.get("priority")),
                state=str(i.get("state", "?")),
                source=str(i.get("source", "")),
                vips=tuple(i.get("vips") or ()),
                vips_held=tuple(i.get("vips_held") or ()),
                since=None if i.get("since") is None else float(i["since"]),
            )
            for n, i in sorted(state.get("instance", {}).items())
        )
        wire = tuple(
            WireVrid(
                key=str(k),
                vrid=int(v["vrid"]),
                family=str(v.get("family", "inet")),
                master=v.get("master"),
                master_priority=_int_or_none(v.get("master_priority")),
                master_since=None if v.get("master_since") is None else float(v["master_since"]),
                split_brain=bool(v.get("split_brain")),
                conflict=bool(v.get("conflict_fields")),
                silent=bool(v.get("silent")),
            )
            for k, v in sorted(state.get("vrid", {}).items())
        )
        ipvs_state = state.get("ipvs", {})
        ka = state.get("keepalived", {}).get("status") or {}
        host = state.get("host", {}).get("stats") or {}
        ipvs = None if ipvs_state.get("error") else ipvs_from_state(state, updated_at or 0.0)
        problems = [str(p) for p in ka.get("problems") or ()]
        for extra in ("vrrp_error", "drained_error"):
            if ipvs_state.get(extra):
                problems.append(str(ipvs_state[extra]))
        if ka.get("config_error") and ka.get("running"):
            problems.append(str(ka["config_error"]))
        load = host.get("load")
        return Director(
            name=name,
            status=status,
            reason=reason,
            since=since,
            host=str(hello.get("host", "")),
            kernel=str(hello.get("kernel", "")),
            lvstop=str(hello.get("lvstop", "")),
            python=str(hello.get("python", "")),
            keepalived_version=hello.get("keepalived"),
            capabilities=tuple(str(c) for c in hello.get("capabilities") or ()),
            ipvs=ipvs,
            ipvs_error=ipvs_state.get("error"),
            instances=instances,
            wire=wire,
            keepalived_running=bool(ka.get("running")),
            keepalived_pid=_int_or_none(ka.get("pid")),
            drained={str(k): int(v) for k, v in state.get("drained", {}).items()},
            addresses=tuple(state.get("addresses", {}).get("local") or ()),
            load=None if not load else tuple(float(x) for x in load),
            cpu_percent=host.get("cpu_percent"),
            cps=cps,
            updated_at=updated_at,
            bytes_in=bytes_in,
            problems=tuple(problems),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed agent state: {exc}") from None
