"""Per-VRID VRRP tracking: adverts in, events out (pure; time comes from the adverts/``tick``).

Semantics (issue 4):

- ``master``: the first master seen for a VRID (also a master coming back after silence).
- ``failover``: the master changed after the previous one stopped (silent, resigned with
  priority 0, or not heard for more than 1.5 of its intervals); ``gap_ms`` = the new master's
  first advert minus the previous master's last advert (a priority-0 advert counts).
- ``preempt``: a router of strictly higher priority took over from a master that had
  advertised within 1.5 intervals before.
- ``resign``: the master sent priority 0.
- ``split_brain``: two or more routers each advertised at least twice within one master-down
  interval, counting only adverts sent while the other was already advertising (so the one
  advert a preempted master may still have in flight does not count); ``split_brain_cleared``
  once fewer than two remain (a router remains until its last advert + its master-down
  interval, or until it sends priority 0).
- ``conflict``: routers of the VRID differ in VIP set, interval, version or auth type.
- ``silent``: the master (or a resigned master) was not followed by anyone: event time = its last
  advert + the master-down interval; declared half an interval later (the backup's first advert
  may arrive a few ms after its own timer).
- ``bogus``: an invalid packet, with its check.
- ``too_many_senders``: more routers advertise one VRID than the tracker keeps
  (``max_routers``), or more VRIDs appear than it keeps (``max_vrids``; the event has no
  VRID): adverts of further senders are counted (``untracked_adverts``) but not tracked. Said
  once per episode; the VRID (or the snapshot) shows it while such adverts keep coming
  (``SENDERS_HOLD`` seconds). A router not heard for two master-down intervals (and not the
  master) makes room for a new sender; a VRID not heard for ``VRID_STALE`` seconds for a new
  VRID.
- ``host_mismatch``: wire and host disagree (this host holds a VIP while another node is
  master; this host is master for a VIP it does not hold), lasting more than
  ``MISMATCH_GRACE_INTERVALS`` of the master's intervals.

Master-down interval (RFC 3768 / 5798): 3 × interval + skew; v2: skew = (256 − prio)/256 s;
v3: skew = (256 − prio) × interval / 256 (interval in centiseconds on the wire).

Cost: every advert goes through one update path (``_on_advert``) whose work is bounded by the
routers of its VRID, themselves bounded by ``max_routers``: a stream of adverts from ever new
(spoofed) source addresses costs the same per advert as a steady VRID
(``bench/bench_vrrp_tracker.py``), and memory is bounded by ``max_vrids × max_routers``.
"""

from __future__ import annotations

import heapq

# _socket is what socket re-exports; socket itself (enums, selectors) costs 2 ms of start-up
from _socket import AF_INET as _AF_INET
from _socket import AF_INET6 as _AF_INET6
from _socket import inet_pton as _inet_pton
from collections import deque
from collections.abc import Iterable

from lvstop.model.vrrp import (
    Advert,
    CaptureStats,
    Family,
    RouterState,
    VridState,
    VrrpEvent,
    VrrpSnapshot,
)

Key = tuple[str, int, str | None]

#: Fraction of an interval to wait past the master-down time before declaring ``silent``.
SILENT_GRACE = 0.5
#: A master not heard for more than this many intervals is no longer "current" (preempt rule).
CURRENT_INTERVALS = 1.5
#: How long (in the master's advert intervals) wire and host may disagree before
#: ``host_mismatch``. keepalived itself leaves no window worth a grace: measured in the lab
#: (2.2.7, d2 stopped, watched from d1), the new master's VIP appeared (RTM_NEWADDR) 0.7 ms
#: after its first advert, and a stopping master removes its VIPs right after its priority-0
#: advert. What remains is our own lag between the two views: adverts reach the tracker in
#: capture batches (up to 250 ms late, judged by their kernel time stamps), address changes
#: whenever the event loop handles the netlink event (later on a busy dashboard). The check
#: runs at the first advert or tick past the grace; with exactly one interval that is the
#: master's very next advert, racing any lag. One and a half intervals puts it between the
#: next two adverts: a disagreement reported has outlived the next advert and keepalived's
#: reaction to it.
MISMATCH_GRACE_INTERVALS = 1.5
#: Routers kept per VRID. keepalived setups have two or three; a sender beyond this many is
#: counted, not tracked (``too_many_senders``).
MAX_ROUTERS_PER_VRID = 16
#: VRIDs kept (family × VRID × interface): 255 per family and interface.
MAX_VRIDS = 1024
#: Seconds a VRID (or the tracker) shows "too many senders" after the last untracked advert.
SENDERS_HOLD = 10.0
#: A VRID not heard for this long may be forgotten to make room for a new one (only when full).
VRID_STALE = 60.0
#: Timer entries (split-brain and mismatch checks) pending per VRID; more are merged.
MAX_PENDING = 64


def skew_ms(version: int, interval_ms: float, priority: int) -> float:
    if version == 3:
        return (256 - priority) * interval_ms / 256.0
    return (256 - priority) * 1000.0 / 256.0


def master_down_ms(version: int, interval_ms: float, priority: int) -> float:
    """RFC Master_Down_Interval for a backup of ``priority``, in milliseconds."""
    return 3.0 * interval_ms + skew_ms(version, interval_ms, priority)


def _others_until(v: _Vrid, r: _Router) -> float:
    """Until when a router other than ``r`` may still count as advertising (split-brain check):
    the latest ``last + mdi`` of the others that could (priority > 0, in a run), with a
    microsecond of slack for rounding; the exact test runs only before that time. Cached per
    VRID for the router it leaves out (``_Vrid.others_of``): valid until another router's
    state changes."""
    until = -1.0
    for x in v.routers.values():
        if x is not r and x.priority > 0 and x.run_start is not None:
            until = max(until, x.last + x.mdi + 1e-6)
    return until


def _second_last(times: deque[float]) -> float:
    """The second latest of a router's recent advert times (at most 8; not necessarily in
    order): at least two of them are at or after ``s`` exactly when ``s`` is at most this."""
    return sorted(times)[-2]


def _ip_key(src: str) -> int:
    """An address as a number (IPv4 below IPv6, as ``int(ipaddress.ip_address(src))``;
    ipaddress itself costs a millisecond of start-up)."""
    try:
        addr = src.partition("%")[0]  # a scope (fe80::1%eth0) does not count, as in ipaddress
        return int.from_bytes(_inet_pton(_AF_INET6 if ":" in addr else _AF_INET, addr), "big")
    except (OSError, ValueError):
        return 0


class _Router:
    __slots__ = (
        "addr_set",
        "addresses",
        "auth_type",
        "count",
        "first",
        "interval_ms",
        "last",
        "mac",
        "mdi",
        "priority",
        "run_start",
        "src",
        "times",
        "version",
    )

    def __init__(self, advert: Advert, t: float) -> None:
        self.src = advert.src
        self.mac = advert.src_mac
        self.first = t
        self.last = t
        self.count = 0
        self.run_start: float | None = None
        self.times: deque[float] = deque(maxlen=8)
        self.priority = -1
        self.interval_ms = 0
        self.version = 0
        self.auth_type: str | None = None
        self.addresses: tuple[str, ...] = ()
        self.addr_set: frozenset[str] = frozenset()
        self.mdi = 0.0  # seconds

    def state(self) -> RouterState:
        times = self.times
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        rate = (len(times) - 1) / span if span > 0 else 0.0
        return RouterState(
            src=self.src,
            src_mac=self.mac,
            priority=self.priority,
            interval_ms=self.interval_ms,
            version=self.version,
            auth_type=self.auth_type,
            addresses=self.addresses,
            first_seen=self.first,
            last_seen=self.last,
            adverts=self.count,
            rate=rate,
        )


class _Vrid:
    __slots__ = (
        "bogus",
        "conflict_fields",
        "conflict_sig",
        "ever_master",
        "evict_at",
        "failovers",
        "family",
        "iface",
        "key",
        "last_advert",
        "last_gap_ms",
        "master",
        "master_since",
        "mismatch",
        "mismatch_due",
        "mismatch_pending",
        "mismatch_reported",
        "mismatch_since",
        "others_of",
        "others_until",
        "prev_last",
        "prev_master",
        "routers",
        "seen",
        "silence_at",
        "silence_mdi",
        "silence_queued",
        "silent",
        "split",
        "split_members",
        "split_pending",
        "split_since",
        "split_total",
        "untracked",
        "untracked_last",
        "vrid",
    )

    def __init__(self, key: Key) -> None:
        self.key = key
        self.family: Family = "inet6" if key[0] == "inet6" else "inet"
        self.vrid = key[1]
        self.iface = key[2]
        self.routers: dict[str, _Router] = {}
        self.master: str | None = None
        self.master_since: float | None = None
        self.ever_master = False
        self.prev_master: str | None = None
        self.prev_last = 0.0
        self.silence_at: float | None = None  # master-down time being watched
        self.silence_mdi: float | None = None  # cached _silence_mdi (reset on router changes)
        self.silence_queued = False  # a "silence" heap entry is pending (lazy timer)
        self.silent = False
        self.split = False
        self.split_since: float | None = None
        self.split_total = 0.0
        self.split_members: tuple[str, ...] = ()
        self.conflict_fields: tuple[str, ...] = ()
        self.conflict_sig: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self.bogus = 0
        self.last_advert: float | None = None
        self.failovers = 0
        self.last_gap_ms: float | None = None
        self.mismatch: str | None = None
        self.mismatch_since = 0.0
        self.mismatch_reported: str | None = None
        self.mismatch_due = 0.0  # when the grace of the current mismatch ends
        self.mismatch_pending = 0  # "mismatch" heap entries of this VRID
        #: see _others_until: the router left out, and the time (valid while others_of is set)
        self.others_of: _Router | None = None
        self.others_until = -1.0
        self.split_pending = 0  # "split" heap entries of this VRID
        self.seen = 0.0  # made, or its last bogus packet (last_advert: its last advert)
        self.untracked = 0  # adverts from senders beyond max_routers
        self.untracked_last: float | None = None
        self.evict_at = 0.0  # no router can be stale before this time (see _evict_router)


class VrrpTracker:
    """Adverts in (``feed``), events out; ``tick(now)`` advances time without an advert.

    ``per_interface`` keys state by interface too (live capture on several links); a pcap
    without interface names is tracked per family and VRID.
    """

    def __init__(
        self,
        *,
        per_interface: bool = True,
        history: int = 200,
        max_routers: int = MAX_ROUTERS_PER_VRID,
        max_vrids: int = MAX_VRIDS,
    ) -> None:
        self.per_interface = per_interface
        self.max_routers = max_routers
        self.max_vrids = max_vrids
        self._vrids: dict[Key, _Vrid] = {}
        self._heap: list[tuple[float, int, Key, str]] = []
        self._seq = 0
        self._events: deque[VrrpEvent] = deque(maxlen=history)
        self.adverts_total = 0
        self.bogus_total = 0
        #: adverts not tracked: their sender or VRID was one too many (see too_many_senders)
        self.untracked_adverts = 0
        self._vrids_untracked_last: float | None = None  # adverts of VRIDs beyond max_vrids
        self._vrid_evict_at = 0.0  # no VRID can be stale before this time
        self._local: frozenset[str] | None = None
        self.now = 0.0
        #: the current master of the VRID of the advert fed last (for the per-advert line)
        self.last_master: str | None = None

    # -- public API -------------------------------------------------------------------------

    def feed(self, advert: Advert, time: float | None = None) -> list[VrrpEvent]:
        """One advert (valid or bogus); ``time`` overrides ``advert.time`` (the pcap reader
        reuses one decoded advert for identical packets)."""
        t = advert.time if time is None else time
        heap = self._heap
        if heap and heap[0][0] <= t:
            out = self._advance(t)
        else:
            out = []
            if t > self.now:
                self.now = t
        self.adverts_total += 1
        if not advert.valid or advert.vrid is None or advert.priority is None:
            self._on_bogus(advert, t, out)
        else:
            self._on_advert(advert, t, out)
        if out:
            self._events.extend(out)
        return out

    def tick(self, now: float) -> list[VrrpEvent]:
        """Emit the events that are due by ``now`` (silence, split brain ending, mismatches)."""
        out = self._advance(now)
        if out:
            self._events.extend(out)
        return out

    def _advance(self, now: float) -> list[VrrpEvent]:
        if now > self.now:
            self.now = now
        out: list[VrrpEvent] = []
        heap = self._heap
        vrids = self._vrids
        while heap and heap[0][0] <= now:
            due, _seq, key, what = heap[0]
            v = vrids.get(key)
            if what == "silence" and v is not None and not v.silent:
                # The lazy silence timer popping early (newer adverts moved the deadline):
                # the common case, done in place (heapreplace, the same (time, seq) order as
                # _check_silence's re-queue through _push).
                at = v.silence_at
                watched = v.master or v.prev_master
                if at is not None and watched is not None:
                    r = v.routers.get(watched)
                    deadline = at + SILENT_GRACE * (r.interval_ms if r else 1000) / 1000.0
                    if now < deadline:
                        self._seq += 1
                        heapq.heapreplace(heap, (deadline, self._seq, key, "silence"))
                        continue
            heapq.heappop(heap)
            if v is None:
                continue
            if what == "silence":
                self._check_silence(v, now, out)
            elif what == "split":
                v.split_pending -= 1
                if v.split:
                    self._check_split(v, now, out, None)
                    if v.split and not v.split_pending:  # only once checks were merged
                        self._queue_split(v, min(x.last + x.mdi for x in _active(v, now)))
            elif what == "mismatch":
                v.mismatch_pending -= 1
                self._check_mismatch(v, due, out)
                if (
                    not v.mismatch_pending
                    and v.mismatch_due > due
                    and v.mismatch is not None
                    and v.mismatch != v.mismatch_reported
                ):
                    self._queue_mismatch(v, v.mismatch_due)  # only once checks were merged
        return out

    def set_local_addresses(self, addresses: Iterable[str], now: float) -> list[VrrpEvent]:
        """The addresses this host holds (from netlink); enables host/wire comparison."""
        self._local = frozenset(addresses)
        out: list[VrrpEvent] = []
        for v in self._vrids.values():
            self._update_mismatch(v, now, out)
        self._events.extend(out)
        return out

    def snapshot(
        self, now: float | None = None, *, capture: CaptureStats | None = None, source: str = ""
    ) -> VrrpSnapshot:
        t = self.now if now is None else now
        vrids = tuple(self._state(v, t) for v in sorted(self._vrids.values(), key=_sort_key))
        return VrrpSnapshot(
            time=t,
            vrids=vrids,
            events=tuple(self._events),
            bogus_total=self.bogus_total,
            adverts_total=self.adverts_total,
            local_addresses=tuple(sorted(self._local or ())),
            capture=capture or CaptureStats(),
            source=source,
            untracked_adverts=self.untracked_adverts,
            too_many_vrids=_held(self._vrids_untracked_last, t),
        )

    def master_of(self, advert: Advert) -> str | None:
        """The current master of the advert's VRID (for the per-advert line)."""
        if advert.vrid is None:
            return None
        v = self._vrids.get(self._key(advert))
        return None if v is None else v.master

    # -- internals --------------------------------------------------------------------------

    def _key(self, advert: Advert) -> Key:
        return (advert.family, advert.vrid or 0, advert.interface if self.per_interface else None)

    def _push(self, when: float, key: Key, what: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, key, what))

    def _event(self, v: _Vrid, t: float, kind: str, detail: str, **kw: object) -> VrrpEvent:
        return VrrpEvent(
            time=t,
            kind=kind,
            family=v.family,
            vrid=v.vrid,
            interface=v.iface,
            detail=detail,
            **kw,  # type: ignore[arg-type]
        )

    def _vrid(self, a: Advert, t: float) -> _Vrid | None:
        """The advert's VRID state, made if new and there is room (else None)."""
        key = self._key(a)
        v = self._vrids.get(key)
        if v is None:
            if len(self._vrids) >= self.max_vrids and not self._evict_vrid(t):
                return None
            v = self._vrids[key] = _Vrid(key)
            v.seen = t
        return v

    def _evict_vrid(self, t: float) -> bool:
        """Forget the VRID heard from least recently if that was ``VRID_STALE`` ago. The scan
        runs at most once per stale time: until then no VRID can have become stale."""
        if t < self._vrid_evict_at:
            return False
        oldest = min(self._vrids.values(), key=_heard)
        if t - _heard(oldest) <= VRID_STALE:
            self._vrid_evict_at = _heard(oldest) + VRID_STALE
            return False
        del self._vrids[oldest.key]  # its heap entries find no VRID (or a new one) and pass
        return True

    def _untracked(self, v: _Vrid | None, a: Advert, t: float, out: list[VrrpEvent]) -> None:
        """An advert of one sender (``v``) or one VRID (``v`` None) too many: counted, and
        ``too_many_senders`` said at the start of an episode."""
        self.untracked_adverts += 1
        last = self._vrids_untracked_last if v is None else v.untracked_last
        if not _held(last, t):
            if v is None:
                out.append(
                    VrrpEvent(
                        time=t,
                        kind="too_many_senders",
                        family=a.family,
                        vrid=None,
                        interface=a.interface,
                        sources=(a.src,),
                        detail=f"too many senders: more than {self.max_vrids} VRIDs; adverts of "
                        f"further VRIDs (VRID {a.vrid} from {a.src}) are counted, not "
                        "tracked",
                    )
                )
            else:
                out.append(
                    self._event(
                        v,
                        t,
                        "too_many_senders",
                        f"VRID {v.vrid}: too many senders: more than {self.max_routers} routers "
                        f"advertise; adverts of further senders ({a.src}) are counted, not tracked",
                        master=v.master,
                        sources=(a.src,),
                    )
                )
        if v is None:
            self._vrids_untracked_last = t
        else:
            v.untracked += 1
            v.untracked_last = t

    def _add_router(self, v: _Vrid, a: Advert, t: float) -> _Router | None:
        """A router for a new sender, if there is room (after forgetting a stale one)."""
        if len(v.routers) >= self.max_routers and not self._evict_router(v, t):
            return None
        r = v.routers[a.src] = _Router(a, t)
        return r

    def _evict_router(self, v: _Vrid, t: float) -> bool:
        """Forget the stalest router that ``_recent`` already leaves out (not heard for two
        master-down intervals), never the master, the previous master or a split-brain
        member. The scan runs at most once until the next router can have become stale."""
        if t < v.evict_at:
            return False
        keep = {v.master, v.prev_master, *v.split_members}
        stalest: _Router | None = None
        next_at = t + 1.0  # the kept ones: the master may change meanwhile
        for x in v.routers.values():
            if x.src in keep:
                continue
            gone = x.last + 2 * x.mdi
            if gone < t:
                if stalest is None or x.last < stalest.last:
                    stalest = x
            elif gone < next_at:
                next_at = gone
        if stalest is None:
            v.evict_at = next_at
            return False
        del v.routers[stalest.src]
        v.others_of = None
        v.silence_mdi = None
        return True

    def _on_bogus(self, a: Advert, t: float, out: list[VrrpEvent]) -> None:
        self.last_master = None
        self.bogus_total += 1
        vrid = a.vrid if a.vrid is not None and a.error not in ("truncated", "version") else None
        v = self._vrid(a, t) if vrid is not None else None
        if v is not None:
            v.seen = t
            v.bogus += 1
        out.append(
            VrrpEvent(
                time=t,
                kind="bogus",
                family=a.family,
                vrid=vrid,
                interface=a.interface,
                master=None,
                sources=(a.src,),
                error=a.error,
                detail=f"bogus VRRP packet from {a.src}: {a.error}"
                + (f" (VRID {vrid})" if vrid is not None else ""),
            )
        )

    def _on_advert(self, a: Advert, t: float, out: list[VrrpEvent]) -> None:
        """The one update path of a valid advert: its sender's record, then a resignation,
        or who is master and what to watch for next."""
        found = self._router_for(a, t, out)
        if found is None:
            return
        v, r, new = found
        interval = a.interval_ms or 0
        prev_last = self._note_advert(v, r, a, t, new, out)
        if r.priority == 0:
            self._on_resign(v, r, t, interval, out)
            return
        if r.run_start is None or t - prev_last > r.mdi:
            r.run_start = t
        self._elect(v, r, t, out)
        self._watch(v, r, t, interval, out)

    def _router_for(
        self, a: Advert, t: float, out: list[VrrpEvent]
    ) -> tuple[_Vrid, _Router, bool] | None:
        """The VRID and the sender's router (and whether the router is new); None when either
        is one too many (counted as untracked)."""
        v = self._vrids.get((a.family, a.vrid or 0, a.interface if self.per_interface else None))
        if v is None:
            v = self._vrid(a, t)
            if v is None:
                self.last_master = None
                self._untracked(None, a, t, out)
                return None
        r = v.routers.get(a.src)
        new = r is None
        if r is None:
            r = self._add_router(v, a, t)
            if r is None:
                self.last_master = v.master
                self._untracked(v, a, t, out)
                return None
        return v, r, new

    def _note_advert(
        self, v: _Vrid, r: _Router, a: Advert, t: float, new: bool, out: list[VrrpEvent]
    ) -> float:
        """The advert into its sender's record (a conflict checked when what it says
        changed); returns when the sender was heard before."""
        prio = a.priority or 0
        interval = a.interval_ms or 0
        version = a.version or 2
        changed = (
            new
            or r.interval_ms != interval
            or r.version != version
            or r.auth_type != a.auth_type
            or (r.addresses is not a.addresses and r.addresses != a.addresses)
        )
        if changed or r.priority != prio:
            r.mdi = master_down_ms(version, interval, max(prio, 1)) / 1000.0
            v.silence_mdi = None
            r.priority = prio
            if changed:
                r.interval_ms = interval
                r.version = version
                r.auth_type = a.auth_type
                if r.addresses != a.addresses:
                    r.addresses = a.addresses
                    r.addr_set = frozenset(a.addresses)
        prev_last = r.last
        mac = a.src_mac
        if mac and mac is not r.mac:
            r.mac = mac
        r.count += 1
        r.last = t
        r.times.append(t)
        v.last_advert = t
        if v.others_of is not r:
            v.others_of = None  # r is one of the others of the cached bound: it moves
        if changed and len(v.routers) > 1:
            self._check_conflict(v, t, out)
        return prev_last

    def _on_resign(
        self, v: _Vrid, r: _Router, t: float, interval: int, out: list[VrrpEvent]
    ) -> None:
        """Priority 0: the sender gives up mastership (if it held it)."""
        src = r.src
        r.run_start = None
        if v.master == src:
            v.master = None
            v.prev_master = src
            v.prev_last = t
            v.silent = False
            out.append(
                self._event(
                    v,
                    t,
                    "resign",
                    f"VRID {v.vrid}: master {src} resigned (priority 0)",
                    master=None,
                    previous=src,
                    sources=(src,),
                )
            )
            v.silence_at = t + self._silence_mdi(v, r)
            self._queue_silence(v, interval)
        if v.split:
            self._check_split(v, t, out, t)
        self.last_master = v.master

    def _elect(self, v: _Vrid, r: _Router, t: float, out: list[VrrpEvent]) -> None:
        """Who is master after this advert of ``r``: the first, again after a gap, by
        failover (the master went quiet) or by preemption (a higher priority)."""
        src = r.src
        prio = r.priority
        master = v.master
        if master == src:
            return  # the master again: the common case
        if master is None:
            previous = v.prev_master
            if not v.ever_master:
                out.append(
                    self._event(
                        v,
                        t,
                        "master",
                        f"VRID {v.vrid}: {src} is master (priority {prio})",
                        master=src,
                        sources=(src,),
                    )
                )
            elif previous == src or previous is None:
                out.append(
                    self._event(
                        v,
                        t,
                        "master",
                        f"VRID {v.vrid}: {src} is master again after "
                        f"{(t - v.prev_last):.2f} s without adverts",
                        master=src,
                        previous=previous,
                        gap_ms=round((t - v.prev_last) * 1000, 3),
                        sources=(src,),
                    )
                )
            else:
                self._change(v, t, "failover", src, previous, v.prev_last, out)
            v.ever_master = True
            v.master = src
            v.master_since = t
            v.silent = False
            return
        m = v.routers[master]
        if t - m.last > CURRENT_INTERVALS * m.interval_ms / 1000.0:
            self._change(v, t, "failover", src, master, m.last, out)
            v.master = src
            v.master_since = t
        elif prio > m.priority:
            self._change(v, t, "preempt", src, master, m.last, out)
            v.master = src
            v.master_since = t

    def _watch(self, v: _Vrid, r: _Router, t: float, interval: int, out: list[VrrpEvent]) -> None:
        """After the election: the master's silence timer and host check, and split brain
        while another router may still be advertising."""
        master = self.last_master = v.master
        if master == r.src:
            mdi = v.silence_mdi
            if mdi is None:
                mdi = v.silence_mdi = self._silence_mdi(v, r)
            v.silence_at = t + mdi
            if not v.silence_queued:
                self._queue_silence(v, interval)
            if self._local is not None:
                self._update_mismatch(v, t, out)
        if v.split:
            self._check_split(v, t, out, None)
            return
        # only worth a look while another router may still be advertising
        if v.others_of is not r:
            v.others_of = r
            v.others_until = _others_until(v, r)
        if t <= v.others_until:
            for x in v.routers.values():
                if (
                    x is not r
                    and x.priority > 0
                    and x.run_start is not None
                    and t - x.last <= x.mdi
                ):
                    self._check_split(v, t, out, None)
                    break

    def _queue_silence(self, v: _Vrid, interval_ms: int) -> None:
        """Lazy timer: one heap entry per VRID; when it pops early (newer adverts moved
        ``silence_at``) it is pushed again for the new time."""
        assert v.silence_at is not None
        v.silence_queued = True
        self._push(v.silence_at + SILENT_GRACE * interval_ms / 1000.0, v.key, "silence")

    def _change(
        self,
        v: _Vrid,
        t: float,
        kind: str,
        src: str,
        previous: str,
        prev_last: float,
        out: list[VrrpEvent],
    ) -> None:
        gap_ms = round((t - prev_last) * 1000.0, 3)
        r = v.routers[src]
        if kind == "failover":
            v.failovers += 1
            detail = (
                f"VRID {v.vrid}: failover {previous} → {src} (priority {r.priority}), "
                f"{gap_ms:.0f} ms without a master advert"
            )
        else:
            detail = f"VRID {v.vrid}: {src} (priority {r.priority}) preempted {previous}"
        v.last_gap_ms = gap_ms
        out.append(
            self._event(
                v,
                t,
                kind,
                detail,
                master=src,
                previous=previous,
                gap_ms=gap_ms,
                sources=(previous, src),
            )
        )

    def _silence_mdi(self, v: _Vrid, master: _Router) -> float:
        """Master-down interval (s) after which nobody taking over means silence: that of the
        slowest known backup (lowest priority), else the master's own."""
        prio = master.priority if master.priority > 0 else 255
        others = [x.priority for x in v.routers.values() if x is not master and x.priority > 0]
        if others:
            prio = min(others)
        return master_down_ms(master.version, master.interval_ms, prio) / 1000.0

    def _check_silence(self, v: _Vrid, now: float, out: list[VrrpEvent]) -> None:
        v.silence_queued = False
        at = v.silence_at
        if at is None or v.silent:
            return
        watched = v.master or v.prev_master
        if watched is None:
            return
        r = v.routers.get(watched)
        interval = r.interval_ms if r else 1000
        if now < at + SILENT_GRACE * interval / 1000.0:
            self._queue_silence(v, interval)  # newer adverts moved the deadline
            return
        if v.master is not None:
            v.prev_master = v.master
            v.prev_last = v.routers[v.master].last
            v.master = None
        v.silent = True
        out.append(
            self._event(
                v,
                at,
                "silent",
                f"VRID {v.vrid}: master {watched} went silent and nobody took over",
                master=None,
                previous=watched,
                sources=(watched,),
            )
        )
        if v.split:
            self._check_split(v, now, out, None)

    def _check_split(self, v: _Vrid, now: float, out: list[VrrpEvent], at: float | None) -> None:
        active = _active(v, now)
        if not v.split:
            if len(active) < 2:
                return
            members = _split_members(active, now)
            if len(members) < 2:
                return
            v.split = True
            v.split_since = now
            v.split_members = tuple(sorted(members, key=_ip_key))
            for x in active:
                self._queue_split(v, x.last + x.mdi)
            out.append(
                self._event(
                    v,
                    now,
                    "split_brain",
                    f"VRID {v.vrid}: split brain, {len(members)} routers advertise as master: "
                    + ", ".join(v.split_members),
                    master=v.master,
                    sources=v.split_members,
                )
            )
            return
        if len(active) >= 2:
            # still split: re-check when the one that advertised now could expire
            for x in active:
                if x.last == now:
                    self._queue_split(v, x.last + x.mdi)
            return
        if at is None:
            gone = [
                x.last + x.mdi
                for x in v.routers.values()
                if x.src in v.split_members and x.priority > 0 and now - x.last > x.mdi
            ]
            at = min(now, max(gone)) if gone else now
        v.split = False
        v.split_total += max(0.0, at - (v.split_since or at))
        sources = v.split_members
        v.split_members = ()
        v.split_since = None
        remaining = active[0].src if active else None
        out.append(
            self._event(
                v,
                at,
                "split_brain_cleared",
                f"VRID {v.vrid}: split brain over"
                + (f", {remaining} is the only master" if remaining else ""),
                master=v.master,
                sources=sources,
            )
        )

    def _queue_split(self, v: _Vrid, expires: float) -> None:
        """A split-brain check just after a router's run could end; at most ``MAX_PENDING``
        per VRID (routers advertising faster than their master-down interval): more are
        merged, and the last to pop queues the next expiry itself (see ``_advance``)."""
        if v.split_pending < MAX_PENDING:
            v.split_pending += 1
            self._push(expires + 1e-6, v.key, "split")

    def _check_conflict(self, v: _Vrid, t: float, out: list[VrrpEvent]) -> None:
        routers = _recent(v, t)
        fields, involved = _differences(routers)
        v.conflict_fields = tuple(fields)
        if not fields:
            v.conflict_sig = None
            return
        sources = tuple(sorted(involved, key=_ip_key))
        sig = (tuple(fields), sources)
        if sig == v.conflict_sig:
            return
        v.conflict_sig = sig
        desc = "; ".join(
            f"{x.src}: "
            + ", ".join(
                f"{f}={_show(getattr(x, 'addresses' if f == 'addresses' else f))}" for f in fields
            )
            for x in routers
        )
        out.append(
            self._event(
                v,
                t,
                "conflict",
                f"VRID {v.vrid}: routers disagree on {', '.join(fields)} ({desc})",
                master=v.master,
                sources=sources,
                fields=tuple(fields),
            )
        )

    def _update_mismatch(self, v: _Vrid, now: float, out: list[VrrpEvent]) -> None:
        local = self._local
        if local is None:
            return
        text: str | None = None
        m = v.routers.get(v.master) if v.master else None
        if m is not None:
            if m.src in local:
                missing = [a for a in m.addresses if a not in local]
                if missing:
                    text = f"this host is master but does not hold {', '.join(missing)}"
            else:
                held = [a for a in m.addresses if a in local]
                if held:
                    text = f"this host holds {', '.join(held)} while {m.src} is master"
        if text != v.mismatch:
            v.mismatch = text
            v.mismatch_since = now
            if text is None:
                v.mismatch_reported = None
            else:
                interval = (m.interval_ms if m else 1000) / 1000.0
                v.mismatch_due = now + MISMATCH_GRACE_INTERVALS * interval
                self._queue_mismatch(v, v.mismatch_due)
        elif text is not None:
            self._check_mismatch(v, now, out)

    def _queue_mismatch(self, v: _Vrid, when: float) -> None:
        """A check of the mismatch at ``when``; at most ``MAX_PENDING`` per VRID (a master
        flapping faster than its grace): the check of the last change then waits for the
        pending ones and is queued when the last of them pops."""
        if v.mismatch_pending < MAX_PENDING:
            v.mismatch_pending += 1
            self._push(when, v.key, "mismatch")

    def _check_mismatch(self, v: _Vrid, now: float, out: list[VrrpEvent]) -> None:
        if v.mismatch is None or v.mismatch == v.mismatch_reported:
            return
        m = v.routers.get(v.master) if v.master else None
        interval = (m.interval_ms if m else 1000) / 1000.0
        if now - v.mismatch_since < MISMATCH_GRACE_INTERVALS * interval:
            return
        v.mismatch_reported = v.mismatch
        out.append(
            self._event(
                v,
                now,
                "host_mismatch",
                f"VRID {v.vrid}: {v.mismatch}",
                master=v.master,
                sources=(v.master,) if v.master else (),
            )
        )

    def _state(self, v: _Vrid, now: float) -> VridState:
        split_seconds = v.split_total + (now - v.split_since if v.split and v.split_since else 0.0)
        local_vips: tuple[str, ...] = ()
        if self._local is not None:
            vips = {a for x in v.routers.values() for a in x.addresses}
            local_vips = tuple(sorted(vips & self._local))
        return VridState(
            family=v.family,
            vrid=v.vrid,
            interface=v.iface,
            routers=tuple(
                x.state()
                for x in sorted(v.routers.values(), key=lambda x: (-x.priority, _ip_key(x.src)))
            ),
            master=v.master,
            master_since=v.master_since,
            split_brain=v.split,
            split_brain_since=v.split_since,
            split_brain_seconds=split_seconds,
            conflict_fields=_differences(_recent(v, now))[0] if len(v.routers) > 1 else (),
            silent=v.silent,
            bogus=v.bogus,
            last_advert=v.last_advert,
            failovers=v.failovers,
            last_gap_ms=v.last_gap_ms,
            local_vips=local_vips,
            host_mismatch=v.mismatch,
            too_many_senders=_held(v.untracked_last, now),
            untracked_adverts=v.untracked,
        )


def _heard(v: _Vrid) -> float:
    """When the VRID was last heard of (advert or bogus packet)."""
    return max(v.seen, v.last_advert or 0.0)


def _held(last: float | None, now: float) -> bool:
    """Whether an untracked advert at ``last`` still shows as "too many senders" at ``now``."""
    return last is not None and now - last <= SENDERS_HOLD


def _active(v: _Vrid, now: float) -> list[_Router]:
    """The routers that count as advertising (priority > 0, in a run, heard within their
    master-down interval)."""
    return [
        x
        for x in v.routers.values()
        if x.priority > 0 and x.run_start is not None and now - x.last <= x.mdi
    ]


def _split_members(active: list[_Router], now: float) -> set[str]:
    """The routers that each advertised at least twice within one master-down interval (the
    longer of a pair's), counting only adverts since both were advertising. Pairs only among
    the routers with two recent adverts (usually none or two)."""
    heard = [(x, _second_last(x.times)) for x in active if len(x.times) >= 2]
    members: set[str] = set()
    for i, (a, a2) in enumerate(heard):
        for b, b2 in heard[i + 1 :]:
            start = max(a.run_start or 0.0, b.run_start or 0.0, now - max(a.mdi, b.mdi))
            if a2 >= start and b2 >= start:
                members.add(a.src)
                members.add(b.src)
    return members


def _recent(v: _Vrid, now: float) -> list[_Router]:
    """Routers heard within two of their master-down intervals (a stopped rogue drops out)."""
    return [x for x in v.routers.values() if now - x.last <= 2 * x.mdi]


def _differences(routers: list[_Router]) -> tuple[tuple[str, ...], set[str]]:
    fields: list[str] = []
    involved: set[str] = set()
    for name, values in (
        ("addresses", {x.addr_set for x in routers}),
        ("interval_ms", {x.interval_ms for x in routers}),
        ("version", {x.version for x in routers}),
        ("auth_type", {x.auth_type for x in routers}),
    ):
        if len(values) > 1:
            fields.append(name)
            involved.update(x.src for x in routers)
    return tuple(fields), involved


def _show(value: object) -> str:
    if isinstance(value, frozenset | tuple):
        return "[" + " ".join(sorted(str(x) for x in value)) + "]"
    return str(value)


def _sort_key(v: _Vrid) -> tuple[str, int, str]:
    return (v.family, v.vrid, v.iface or "")
