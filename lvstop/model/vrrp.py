"""VRRP on the wire: adverts, tracker events and per-VRID state as frozen dataclasses.

Produced by ``lvstop.sources.vrrp_decode`` (``Advert``) and ``lvstop.track.vrrp``
(``VrrpEvent``, ``RouterState``, ``VridState``, ``VrrpSnapshot``); rendered by ``lvstop vrrp``
and the dashboard. ``to_dict`` gives the ``lvstop vrrp --json`` shape (issue 4: each class's
fields, ``lvstop.model.jsonform``); ``from_dict``
reads it back so fakes can replay recordings made in the lab.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from lvstop.model.jsonform import JsonForm, JsonModel, from_json, to_json

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


def _auth_data(data: Mapping[str, Any]) -> bytes:
    """An advert's password from its ``auth`` key: shown (``--show-auth``) it is restored, as
    text (simple) or hex; a masked one cannot be recovered (empty)."""
    auth = data.get("auth")
    if not isinstance(auth, str) or auth == AUTH_MASK:
        return b""
    if data.get("auth_type") == "simple":
        return auth.encode("utf-8")
    try:
        return bytes.fromhex(auth)
    except ValueError:
        return b""


#: older documents may lack these (the family was IPv4 only at first)
_INET = {"family": "inet"}


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
        read={"auth_data": _auth_data},
        missing={**_INET, "src": ""},
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
    def from_dict(cls, data: Mapping[str, Any]) -> Advert:
        return from_json(cls, data)


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

    JSON: ClassVar[JsonForm] = JsonForm(head={"type": lambda e: "event"}, missing=_INET)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VrrpEvent:
        return from_json(cls, data)


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

    JSON: ClassVar[JsonForm] = JsonForm(missing={"addresses": (), "adverts": 0, "rate": 0.0})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouterState:
        return from_json(cls, data)


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

    JSON: ClassVar[JsonForm] = JsonForm(
        missing={
            **_INET,
            "routers": (),
            "split_brain": False,
            "split_brain_seconds": 0.0,
            "conflict_fields": (),
            "silent": False,
            "bogus": 0,
            "failovers": 0,
        }
    )

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
    def from_dict(cls, data: Mapping[str, Any]) -> VridState:
        return from_json(cls, data)


@dataclass(frozen=True, slots=True)
class CaptureStats(JsonModel):
    """Counters of a live capture: what the kernel passed/dropped vs what lvstop decoded."""

    kernel_packets: int = 0
    kernel_drops: int = 0
    received: int = 0
    decoded: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaptureStats:
        return from_json(cls, data)


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

    JSON: ClassVar[JsonForm] = JsonForm(head={"type": lambda s: "snapshot"}, missing={"vrids": ()})

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
    def from_dict(cls, data: Mapping[str, Any]) -> VrrpSnapshot:
        return from_json(cls, data)
