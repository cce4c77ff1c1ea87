"""VRRP on the wire: adverts, tracker events and per-VRID state as frozen dataclasses.

Produced by ``lvstop.sources.vrrp_decode`` (``Advert``) and ``lvstop.track.vrrp``
(``VrrpEvent``, ``RouterState``, ``VridState``, ``VrrpSnapshot``); rendered by ``lvstop vrrp``
and the dashboard. ``to_dict`` gives the ``lvstop vrrp --json`` shape (issue 4: each class's
fields, ``lvstop.model.jsonform``); ``from_dict``
reads it back so fakes can replay recordings made in the lab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from lvstop.model.jsonform import JsonForm, JsonModel, to_json

Family = Literal["inet", "inet6"]

#: Every kind of event the tracker emits.
EVENT_KINDS: tuple[str, ...] = (
    "master",
    "failover",
    "preempt",
    "resign",
    "split_brain",
    "split_brain_cleared",
    "conflict",
    "silent",
    "bogus",
    "host_mismatch",
    "too_many_senders",
)

#: Bogus checks, in the order they are applied; an advert carries the first that failed.
BOGUS_CHECKS: tuple[str, ...] = ("truncated", "version", "type", "count", "checksum", "ttl")

#: Advert keys a conflict can name.
CONFLICT_FIELDS: tuple[str, ...] = ("addresses", "interval_ms", "version", "auth_type")

AUTH_MASK = "***"


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class Advert(JsonModel):
    """One VRRP packet seen on the wire (valid or bogus).

    ``auth_data`` holds the raw authentication bytes (v2 only); it is masked in ``to_dict``
    unless ``show_auth`` is set. Fields the packet was too short or too broken to carry are
    None. ``interface`` is None for packets read from a pcap without interface information.
    """

    time: float
    interface: str | None
    family: Family
    src: str
    src_mac: str | None = None
    dst: str | None = None
    ttl: int | None = None
    version: int | None = None
    vrid: int | None = None
    priority: int | None = None
    interval_ms: int | None = None
    auth_type: str | None = None
    auth_data: bytes = b""
    addresses: tuple[str, ...] = ()
    valid: bool = True
    error: str | None = None

    JSON: ClassVar[JsonForm] = JsonForm(
        head={"type": lambda a: "advert"},
        # after the keys of the first schema (issue 4), where they were added
        late=("src_mac", "dst"),
        exclude={
            "auth_data": "the password bytes: written as auth by to_dict, masked unless show_auth"
        },
    )

    def at(self, time: float) -> Advert:
        """The same advert seen again at ``time`` (a router repeats its advert every interval;
        the live capture decodes it once). Positional: ~3× faster than ``dataclasses.replace``.
        """
        return Advert(
            time,
            self.interface,
            self.family,
            self.src,
            self.src_mac,
            self.dst,
            self.ttl,
            self.version,
            self.vrid,
            self.priority,
            self.interval_ms,
            self.auth_type,
            self.auth_data,
            self.addresses,
            self.valid,
            self.error,
        )

    @property
    def auth_text(self) -> str:
        """The simple-auth password as text (NULs stripped), unmasked."""
        return self.auth_data.rstrip(b"\x00").decode("utf-8", "backslashreplace")

    def to_dict(self, show_auth: bool = False) -> dict[str, Any]:
        auth: str | None
        if self.auth_type == "simple":
            auth = self.auth_text if show_auth else AUTH_MASK
        elif self.auth_data and show_auth:
            auth = self.auth_data.hex()
        else:
            auth = None
        return {**to_json(self, self.JSON), "auth": auth}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Advert:
        """Rebuild an advert from ``to_dict`` output.

        A masked password cannot be recovered: ``auth_data`` is then empty. A password shown
        with ``--show-auth`` is restored.
        """
        auth = data.get("auth")
        auth_data = b""
        if isinstance(auth, str) and auth != AUTH_MASK:
            if data.get("auth_type") == "simple":
                auth_data = auth.encode("utf-8")
            else:
                try:
                    auth_data = bytes.fromhex(auth)
                except ValueError:
                    auth_data = b""
        return cls(
            time=float(data["time"]),
            interface=data.get("interface"),
            family=data.get("family", "inet"),
            src=str(data.get("src", "")),
            src_mac=data.get("src_mac"),
            dst=data.get("dst"),
            ttl=_opt_int(data.get("ttl")),
            version=_opt_int(data.get("version")),
            vrid=_opt_int(data.get("vrid")),
            priority=_opt_int(data.get("priority")),
            interval_ms=_opt_int(data.get("interval_ms")),
            auth_type=data.get("auth_type"),
            auth_data=auth_data,
            addresses=tuple(data.get("addresses") or ()),
            valid=bool(data.get("valid", True)),
            error=data.get("error"),
        )


@dataclass(frozen=True, slots=True)
class VrrpEvent(JsonModel):
    """Something the tracker concluded from the adverts (see ``EVENT_KINDS``)."""

    time: float
    kind: str
    family: Family
    vrid: int | None
    interface: str | None = None
    master: str | None = None
    previous: str | None = None
    gap_ms: float | None = None
    sources: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    error: str | None = None
    detail: str = ""

    JSON: ClassVar[JsonForm] = JsonForm(head={"type": lambda e: "event"})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VrrpEvent:
        return cls(
            time=float(data["time"]),
            kind=str(data["kind"]),
            family=data.get("family", "inet"),
            vrid=_opt_int(data.get("vrid")),
            interface=data.get("interface"),
            master=data.get("master"),
            previous=data.get("previous"),
            gap_ms=_opt_float(data.get("gap_ms")),
            sources=tuple(data.get("sources") or ()),
            fields=tuple(data.get("fields") or ()),
            error=data.get("error"),
            detail=str(data.get("detail", "")),
        )


@dataclass(frozen=True, slots=True)
class RouterState(JsonModel):
    """One router (source address) advertising a VRID."""

    src: str
    src_mac: str | None
    priority: int
    interval_ms: int
    version: int
    auth_type: str | None
    addresses: tuple[str, ...]
    first_seen: float
    last_seen: float
    adverts: int
    rate: float  # adverts per second over the router's recent adverts

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RouterState:
        return cls(
            src=str(data["src"]),
            src_mac=data.get("src_mac"),
            priority=int(data["priority"]),
            interval_ms=int(data["interval_ms"]),
            version=int(data["version"]),
            auth_type=data.get("auth_type"),
            addresses=tuple(data.get("addresses") or ()),
            first_seen=float(data["first_seen"]),
            last_seen=float(data["last_seen"]),
            adverts=int(data.get("adverts", 0)),
            rate=float(data.get("rate", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class VridState(JsonModel):
    """What the wire says about one VRID (per family, and per interface when live)."""

    family: Family
    vrid: int
    interface: str | None
    routers: tuple[RouterState, ...]
    master: str | None  # source address of the current master, None when silent/unknown
    master_since: float | None
    split_brain: bool
    split_brain_since: float | None
    split_brain_seconds: float  # total time spent in split brain so far
    conflict_fields: tuple[str, ...]
    silent: bool
    bogus: int
    last_advert: float | None
    failovers: int
    last_gap_ms: float | None
    #: VIPs of this VRID held by this host (from netlink), when addresses are watched.
    local_vips: tuple[str, ...] = ()
    #: A one-line disagreement between wire and host, or None.
    host_mismatch: str | None = None
    #: More routers advertise this VRID than the tracker keeps, lately (see ``untracked_adverts``).
    too_many_senders: bool = False
    #: Adverts from senders beyond the routers the tracker keeps: counted, not tracked.
    untracked_adverts: int = 0

    @property
    def key(self) -> str:
        """Stable row key for tables: ``inet:51`` or ``inet:51@eth0``."""
        base = f"{self.family}:{self.vrid}"
        return f"{base}@{self.interface}" if self.interface else base

    def last_advert_age(self, now: float) -> float | None:
        return None if self.last_advert is None else max(0.0, now - self.last_advert)

    @property
    def master_router(self) -> RouterState | None:
        for router in self.routers:
            if router.src == self.master:
                return router
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VridState:
        return cls(
            family=data.get("family", "inet"),
            vrid=int(data["vrid"]),
            interface=data.get("interface"),
            routers=tuple(RouterState.from_dict(r) for r in data.get("routers") or ()),
            master=data.get("master"),
            master_since=_opt_float(data.get("master_since")),
            split_brain=bool(data.get("split_brain", False)),
            split_brain_since=_opt_float(data.get("split_brain_since")),
            split_brain_seconds=float(data.get("split_brain_seconds", 0.0)),
            conflict_fields=tuple(data.get("conflict_fields") or ()),
            silent=bool(data.get("silent", False)),
            bogus=int(data.get("bogus", 0)),
            last_advert=_opt_float(data.get("last_advert")),
            failovers=int(data.get("failovers", 0)),
            last_gap_ms=_opt_float(data.get("last_gap_ms")),
            local_vips=tuple(data.get("local_vips") or ()),
            host_mismatch=data.get("host_mismatch"),
            too_many_senders=bool(data.get("too_many_senders", False)),
            untracked_adverts=int(data.get("untracked_adverts", 0)),
        )


@dataclass(frozen=True, slots=True)
class CaptureStats(JsonModel):
    """Counters of a live capture: what the kernel passed/dropped vs what lvstop decoded."""

    kernel_packets: int = 0
    kernel_drops: int = 0
    received: int = 0
    decoded: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaptureStats:
        return cls(
            kernel_packets=int(data.get("kernel_packets", 0)),
            kernel_drops=int(data.get("kernel_drops", 0)),
            received=int(data.get("received", 0)),
            decoded=int(data.get("decoded", 0)),
        )


@dataclass(frozen=True, slots=True)
class VrrpSnapshot(JsonModel):
    """Everything the dashboard's VRRP panel renders, at one instant ``time``."""

    time: float
    vrids: tuple[VridState, ...]
    events: tuple[VrrpEvent, ...] = ()  # recent events, oldest first
    bogus_total: int = 0
    adverts_total: int = 0
    local_addresses: tuple[str, ...] = ()
    capture: CaptureStats = field(default_factory=CaptureStats)
    source: str = ""  # "live: eth0, eth1" or "pcap: FILE"
    #: adverts not tracked: from a sender or of a VRID beyond what the tracker keeps
    untracked_adverts: int = 0
    #: more VRIDs advertised than the tracker keeps, lately
    too_many_vrids: bool = False

    JSON: ClassVar[JsonForm] = JsonForm(head={"type": lambda s: "snapshot"})

    @property
    def too_many_senders(self) -> bool:
        """Some VRID, or the set of VRIDs, has more senders than the tracker keeps."""
        return self.too_many_vrids or any(v.too_many_senders for v in self.vrids)

    def vrid(self, vrid: int, family: Family = "inet") -> VridState | None:
        for state in self.vrids:
            if state.vrid == vrid and state.family == family:
                return state
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VrrpSnapshot:
        return cls(
            time=float(data["time"]),
            vrids=tuple(VridState.from_dict(v) for v in data.get("vrids") or ()),
            events=tuple(VrrpEvent.from_dict(e) for e in data.get("events") or ()),
            bogus_total=int(data.get("bogus_total", 0)),
            adverts_total=int(data.get("adverts_total", 0)),
            local_addresses=tuple(data.get("local_addresses") or ()),
            capture=CaptureStats.from_dict(data.get("capture") or {}),
            source=str(data.get("source", "")),
            untracked_adverts=int(data.get("untracked_adverts", 0)),
            too_many_vrids=bool(data.get("too_many_vrids", False)),
        )
