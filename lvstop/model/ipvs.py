"""Frozen snapshots of the kernel's IPVS state, and their ``lvstop.dump/1`` JSON form.

Everything here is plain data: sources (``lvstop.sources.ipvs``) build it, trackers and front
ends read it. ``IpvsSnapshot.to_dict()`` *is* the ``lvstop dump --json`` schema; ``from_dict()``
reads it back so recorded dumps can be replayed by fake sources (tests, screenshots).

Stable keys (used as table row keys by the dashboard and by the rate tracker):

- service: ``tcp:10.0.5.96:8888``, ``udp:[2001:db8::1]:53``, ``sctp:…``, ``fwm:4`` (IPv4
  firewall-mark service) and ``fwm6:4`` (IPv6 firewall-mark service: the kernel keeps the two
  apart, so must we);
- real server: ``<service key>-><endpoint>``, e.g. ``tcp:10.0.5.96:8888->10.0.5.91:8888``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar, TypeAlias

from lvstop.model.jsonform import JsonForm, JsonModel, from_json

SCHEMA = "lvstop.dump/1"

FORWARDS = ("masq", "local", "tunnel", "route", "bypass")

#: A real server's weight as lvstop writes it: 0 .. 65535 (the kernel, and ipvsadm 1.31,
#: take up to INT_MAX; the dialogs and the commands refuse the same values).
MAX_WEIGHT = 65535
#: IPVS timeouts in seconds: the kernel refuses more than INT_MAX / HZ (EINVAL); with HZ up to
#: 1000 this is always taken (ipvsadm's 31 days is refused at HZ = 1000).
MAX_TIMEOUT = 2_147_483
#: every flag name lvstop prints; "flag-1..3" are scheduler flags of a scheduler that
#: gives them no name (ipvsadm prints the same words).
SERVICE_FLAGS = (
    "persistent",
    "one-packet",
    "sh-fallback",
    "sh-port",
    "mh-fallback",
    "mh-port",
    "flag-1",
    "flag-2",
    "flag-3",
)
STATS_FIELDS = (
    "conns",
    "inpkts",
    "outpkts",
    "inbytes",
    "outbytes",
    "cps",
    "inpps",
    "outpps",
    "inbps",
    "outbps",
)


def endpoint(address: str, port: int) -> str:
    """``10.0.5.91:8888`` or ``[2001:db8::1]:80``: the address as ``ipaddress`` prints it."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _has_tunnel(rs: RealServer) -> bool:
    return rs.tunnel_type is not None


def _norm_address(text: str) -> str:
    return str(ipaddress.ip_address(text))


def _opt_address(text: str | None) -> str | None:
    return None if text is None else _norm_address(text)


def _persistence_mask(data: Mapping[str, Any]) -> int:
    """A document without one: one client (32 bits, 128 for IPv6)."""
    return int(data.get("persistence_mask", 128 if data.get("family") == "inet6" else 32))


def _service_real_servers(data: Mapping[str, Any]) -> tuple[RealServer, ...]:
    """A service's real servers, each knowing its service's key."""
    port, fwmark = data.get("port"), data.get("fwmark")
    key = service_key(
        str(data["protocol"]),
        str(data.get("family", "inet")),
        _opt_address(data.get("address")),
        None if port is None else int(port),
        None if fwmark is None else int(fwmark),
    )
    return tuple(RealServer.from_dict(rs, key) for rs in data.get("real_servers", ()))


@dataclass(frozen=True, slots=True)
class Stats(JsonModel):
    """One object's counters (64-bit, since the counters were zeroed) and the kernel's rates.

    ``cps``/``inpps``/``outpps``/``inbps``/``outbps`` are the *kernel's* estimates: a 2-second
    EWMA, in connections, packets and **bytes** per second. lvstop's own per-poll rates come
    from ``lvstop.track.rates`` (counter deltas), never from these fields.
    """

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0
    cps: int = 0
    inpps: int = 0
    outpps: int = 0
    inbps: int = 0
    outbps: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stats:
        return from_json(cls, data)


ZERO_STATS = Stats()

#: a service's counters as a poll gives them: a Stats, or the ten values in Stats' field order
Counters: TypeAlias = Stats | tuple[int, ...]


class ServiceCounters(Mapping[str, Stats]):
    """Services' counters by key, each ``Stats`` built the first time it is read.

    A poll reads every service's counters (the dashboard sorts and rates by them), but a
    screen shows a few dozen services: building a frozen Stats for each of 10,000 services
    every poll was about a sixth of the poll. Reading every value (JSON, equality, a sort by
    a rate) builds them all; two threads reading one at once build two equal Stats."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Counters]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> Stats:
        value = self._values[key]
        if isinstance(value, Stats):
            return value
        stats = self._values[key] = Stats(*value)
        return stats

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True, slots=True)
class RealServer(JsonModel):
    """A destination of one virtual service, as the kernel reports it."""

    address: str
    port: int
    family: str = "inet"
    forward: str = "masq"
    weight: int = 1
    upper_threshold: int = 0
    lower_threshold: int = 0
    active_conns: int = 0
    inactive_conns: int = 0
    persistent_conns: int = 0
    stats: Stats = ZERO_STATS
    #: the key of the service it belongs to (so a real server row knows its parent)
    service_key: str = ""
    #: "ipip" | "gue" | "gre" for tunnel forwarding when the kernel reports it, else None
    tunnel_type: str | None = None
    tunnel_port: int = 0
    #: names of the tunnel flags set ("nocsum", "csum", "remcsum")
    tunnel_flags: tuple[str, ...] = ()

    JSON: ClassVar[JsonForm] = JsonForm(
        # the tunnel fields only where the kernel reports a tunnel type
        when={name: _has_tunnel for name in ("tunnel_type", "tunnel_port", "tunnel_flags")},
        exclude={"service_key": "the key of its service: the JSON nests it in that service"},
        read={"address": lambda d: _norm_address(d["address"])},
    )

    @property
    def endpoint(self) -> str:
        return endpoint(self.address, self.port)

    @property
    def key(self) -> str:
        return f"{self.service_key}->{self.endpoint}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], service_key: str = "") -> RealServer:
        return from_json(cls, data, service_key=service_key)


def service_key(
    protocol: str, family: str, address: str | None, port: int | None, fwmark: int | None
) -> str:
    if protocol == "fwmark":
        return f"fwm6:{fwmark}" if family == "inet6" else f"fwm:{fwmark}"
    assert address is not None and port is not None
    return f"{protocol}:{endpoint(address, port)}"


@dataclass(frozen=True, slots=True)
class Service(JsonModel):
    """A virtual service: (protocol, address, port) or a firewall mark, with its real servers.

    Its counters are not here but in its snapshot (``IpvsSnapshot.stats_of``): they move every
    poll, while what a service is and its real servers mostly stay, so a poll keeps the
    previous poll's Service object and reads only the counters anew (at 10,000 services,
    building every Service again was a seventh of a poll). A real server keeps its own: a
    poll builds again only those it reads."""

    protocol: str
    family: str
    address: str | None
    port: int | None
    fwmark: int | None = None
    scheduler: str = "wlc"
    #: flag names in SERVICE_FLAGS order (scheduler flags named after the scheduler)
    flags: tuple[str, ...] = ()
    #: persistence timeout in seconds (0 = not persistent)
    persistence_timeout: int = 0
    #: persistence granularity as a prefix length, for both families (32 / 128 = one client)
    persistence_mask: int = 32
    #: persistence engine name ("sip") or None
    persistence_engine: str | None = None
    real_servers: tuple[RealServer, ...] = ()

    JSON: ClassVar[JsonForm] = JsonForm(
        head={"key": lambda s: s.key},
        when={"persistence_engine": lambda s: s.persistence_engine is not None},
        missing={"family": "inet"},
        read={
            "address": lambda d: _opt_address(d.get("address")),
            "persistence_mask": _persistence_mask,
            "real_servers": _service_real_servers,
        },
    )

    @property
    def key(self) -> str:
        return service_key(self.protocol, self.family, self.address, self.port, self.fwmark)

    @property
    def is_fwmark(self) -> bool:
        return self.protocol == "fwmark"

    @property
    def label(self) -> str:
        """How ipvsadm -Ln names it: ``TCP  10.0.5.96:8888`` / ``FWM  4 IPv6``."""
        if self.protocol == "fwmark":
            return f"FWM  {self.fwmark}" + (" IPv6" if self.family == "inet6" else "")
        assert self.address is not None and self.port is not None
        return f"{self.protocol.upper():<4} {endpoint(self.address, self.port)}"

    def real_server(self, rs_endpoint: str) -> RealServer | None:
        for rs in self.real_servers:
            if rs.endpoint == rs_endpoint:
                return rs
        return None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Service:
        return from_json(cls, data)


@dataclass(frozen=True, slots=True)
class Timeouts(JsonModel):
    """``ipvsadm --set`` values in seconds (IPVS_CMD_GET_CONFIG)."""

    tcp: int = 900
    tcpfin: int = 120
    udp: int = 300

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timeouts:
        return from_json(cls, data)


@dataclass(frozen=True, slots=True)
class SyncDaemon(JsonModel):
    """A connection-synchronisation daemon (IPVS_CMD_GET_DAEMON): master or backup."""

    state: str  # "master" | "backup"
    interface: str
    syncid: int
    sync_maxlen: int = 0
    mcast_group: str | None = None
    mcast_port: int = 0
    mcast_ttl: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncDaemon:
        return from_json(cls, data)


@dataclass(frozen=True, slots=True)
class IpvsSnapshot(JsonModel):
    """Everything one poll read, consistent as a whole (see ``lvstop.sources.ipvs``)."""

    services: tuple[Service, ...] = ()
    timeouts: Timeouts | None = None
    daemons: tuple[SyncDaemon, ...] = ()
    #: ``time.monotonic()`` when the dump started (rates use this)
    taken_at: float = 0.0
    #: ``time.time()`` when the dump started (for people and logs)
    wall_time: float = 0.0
    #: keys of the services whose real servers this poll read; the others' real servers are
    #: the ones an earlier poll read (the dashboard reads those it does not show less often).
    #: None: every service's (a full snapshot). Not part of equality or the JSON.
    real_servers_read: frozenset[str] | None = field(default=None, compare=False, repr=False)
    #: each service's counters, by its key (its JSON object holds them as ``stats``)
    service_stats: Mapping[str, Stats] = field(default_factory=dict, hash=False)
    #: lookup caches, built once (not part of equality or the JSON)
    _by_key: dict[str, Service] = field(default_factory=dict, init=False, compare=False, repr=False)

    JSON: ClassVar[JsonForm] = JsonForm(
        head={"schema": lambda s: SCHEMA},
        rename={"wall_time": "time"},
        tail={"services": lambda s: s.services_json()},
        exclude={
            "services": "written after the other keys, each service with its stats",
            "service_stats": "written into each service's object, as its stats",
            "_by_key": "a lookup cache built from services",
            "real_servers_read": "which services this poll read the real servers of: how "
            "the dashboard polled, not what the kernel holds",
        },
    )

    #: the services' keys in order, when the maker knows them already (the IPVS reader
    #: decoded them: computing 10,000 of them again costs a few ms a poll); else computed
    keys: InitVar[Sequence[str] | None] = None

    def __post_init__(self, keys: Sequence[str] | None) -> None:
        if keys is None:
            self._by_key.update((svc.key, svc) for svc in self.services)
        else:
            self._by_key.update(zip(keys, self.services, strict=True))

    def service(self, key: str) -> Service | None:
        return self._by_key.get(key)

    def stats_of(self, key: str) -> Stats:
        """The counters of service ``key`` (zero when the snapshot has no such service)."""
        return self.service_stats.get(key, ZERO_STATS)

    def services_json(self) -> list[dict[str, Any]]:
        """Each service's JSON object, its stats before its real servers."""
        return [service_json(svc, self.stats_of(svc.key)) for svc in self.services]

    def by_key(self) -> Mapping[str, Service]:
        """The services by key, in dump order (built once per snapshot: a service's key is
        computed, so loops over many services use this instead of ``svc.key``)."""
        return self._by_key

    def real_servers_fresh(self, key: str) -> bool:
        """Whether this poll read the real servers of service ``key`` (see
        ``real_servers_read``)."""
        return self.real_servers_read is None or key in self.real_servers_read

    def real_server(self, key: str) -> RealServer | None:
        svc_key, sep, rs_endpoint = key.rpartition("->")
        svc = self._by_key.get(svc_key) if sep else None
        return None if svc is None else svc.real_server(rs_endpoint)

    def real_servers(self) -> Iterator[tuple[Service, RealServer]]:
        for svc in self.services:
            for rs in svc.real_servers:
                yield svc, rs

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IpvsSnapshot:
        schema = data.get("schema")
        if schema != SCHEMA:
            raise ValueError(f"not an {SCHEMA} document (schema: {schema!r})")
        services = [(Service.from_dict(s), s.get("stats")) for s in data.get("services") or ()]
        return from_json(
            cls,
            data,
            services=tuple(svc for svc, _stats in services),
            service_stats=stats_by_key(services),
        )


def service_json(svc: Service, stats: Stats) -> dict[str, Any]:
    """A service's JSON object with its counters: ``stats`` before ``real_servers``, where
    the documents have always had it."""
    data = svc.to_dict()
    real_servers = data.pop("real_servers")
    data["stats"] = stats.to_dict()
    data["real_servers"] = real_servers
    return data


def stats_by_key(services: Iterable[tuple[Service, Mapping[str, Any] | None]]) -> dict[str, Stats]:
    """Services' counters by key, from each one's JSON ``stats`` (absent: zero)."""
    return {svc.key: ZERO_STATS if not st else Stats.from_dict(st) for svc, st in services}


#: why a connection's addresses and ports are not keys of their own
_JOINED = "joined with its address / port into one ADDR:PORT ([IPv6]:PORT) key"


class _Endpoints:
    """A connection's (or a count of them) virtual and real endpoints."""

    __slots__ = ()
    virtual_address: str
    virtual_port: int
    real_address: str
    real_port: int

    @property
    def virtual_endpoint(self) -> str:
        return endpoint(self.virtual_address, self.virtual_port)

    @property
    def real_endpoint(self) -> str:
        return endpoint(self.real_address, self.real_port)


#: the JSON keys of both
_ENDPOINTS = {"virtual": lambda c: c.virtual_endpoint, "real": lambda c: c.real_endpoint}


@dataclass(frozen=True, slots=True)
class ConnEntry(_Endpoints, JsonModel):
    """One line of /proc/net/ip_vs_conn (addresses as ``ipaddress`` prints them)."""

    protocol: str  # "tcp" | "udp" | "sctp" | other lower-case name the kernel prints
    client_address: str
    client_port: int
    virtual_address: str
    virtual_port: int
    real_address: str
    real_port: int
    state: str  # as the kernel prints it: ESTABLISHED, TIME_WAIT, SYN_RECV, UDP, NONE, …
    expires: int  # seconds
    pe_name: str | None = None
    pe_data: str | None = None

    JSON: ClassVar[JsonForm] = JsonForm(
        exclude={
            name: _JOINED
            for name in (
                "client_address",
                "client_port",
                "virtual_address",
                "virtual_port",
                "real_address",
                "real_port",
            )
        },
        tail={"client": lambda e: e.client_endpoint, **_ENDPOINTS},
    )

    @property
    def client_endpoint(self) -> str:
        return endpoint(self.client_address, self.client_port)


@dataclass(frozen=True, slots=True)
class ConnCount(_Endpoints, JsonModel):
    """How many entries share (protocol, virtual, real server, state)."""

    protocol: str
    virtual_address: str
    virtual_port: int
    real_address: str
    real_port: int
    state: str
    count: int

    JSON: ClassVar[JsonForm] = JsonForm(
        exclude={
            name: _JOINED
            for name in ("virtual_address", "virtual_port", "real_address", "real_port")
        },
        tail=_ENDPOINTS,
    )


def split_endpoint(text: str) -> tuple[str, str] | None:
    """``ADDR:PORT`` / ``[IPV6]:PORT`` -> (address text, port text), unchecked; None when the
    text has neither shape (an IPv6 address must be bracketed)."""
    if text.startswith("["):
        addr, sep, port = text[1:].partition("]:")
        return (addr, port) if sep else None
    addr, sep, port = text.rpartition(":")
    return (addr, port) if sep and ":" not in addr else None


def parse_endpoint(text: str) -> tuple[str, int]:
    """``10.0.5.91:8888`` / ``[2001:db8::1]:80`` -> (normalised address, port); ValueError."""
    parts = split_endpoint(text)
    if parts is None:
        raise ValueError(f"bad endpoint {text!r}: expected address:port ([IPv6]:port)")
    addr, port = parts
    try:
        address = _norm_address(addr)
    except ValueError:
        raise ValueError(f"bad address {addr!r} in {text!r}") from None
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad port {port!r} in {text!r}")
    return address, int(port)


def parse_service_key(key: str) -> tuple[str, str, str | None, int | None, int | None]:
    """A service key -> (protocol, family, address, port, fwmark); ValueError with the reason.

    Accepts the keys lvstop prints (``tcp:10.0.5.96:8888``, ``fwm:4``, ``fwm6:4``) and
    normalises addresses (``tcp:[2001:DB8:0::1]:80`` is ``tcp:[2001:db8::1]:80``).
    """
    kind, sep, rest = key.partition(":")
    kind = kind.lower()
    if not sep or not rest:
        raise ValueError(f"bad service {key!r}: expected e.g. tcp:10.0.5.96:8888 or fwm:4")
    if kind in ("fwm", "fwm6", "fwmark"):
        if not rest.isdigit() or not 0 < int(rest) < 2**32:
            raise ValueError(f"bad firewall mark {rest!r} in {key!r}")
        return "fwmark", "inet6" if kind == "fwm6" else "inet", None, None, int(rest)
    if kind not in ("tcp", "udp", "sctp"):
        raise ValueError(f"bad service {key!r}: protocol must be tcp, udp, sctp or fwm")
    address, port = parse_endpoint(rest)
    family = "inet6" if ":" in address else "inet"
    return kind, family, address, port, None


def parse_real_server_key(key: str) -> tuple[str, str, int]:
    """``<service key>-><endpoint>`` -> (normalised service key, address, port)."""
    svc, sep, rs = key.rpartition("->")
    if not sep:
        raise ValueError(
            f"bad real server {key!r}: expected SERVICE->ADDRESS:PORT, "
            "e.g. tcp:10.0.5.96:8888->10.0.5.91:8888"
        )
    proto, family, address, port, fwmark = parse_service_key(svc)
    rs_address, rs_port = parse_endpoint(rs)
    return service_key(proto, family, address, port, fwmark), rs_address, rs_port
