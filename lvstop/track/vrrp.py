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
- ``host_mismatch``: wire and host disagree (this host holds a VIP while another node is
  master; this host is master for a VIP it does not hold), lasting more than
  ``MISMATCH_GRACE_INTERVALS`` of the master's intervals.

Master-down interval (RFC 3768 / 5798): 3 × interval + skew; v2: skew = (256 − prio)/256 s;
v3: skew = (256 − prio) × interval / 256 (interval in centiseconds on the wire).
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


def skew_ms(version: int, interval_ms: float, priority: int) -> float:
    if version == 3:
        return (256 - priority) * interval_ms / 256.0
    return (256 - priority) * 1000.0 / 256.0


def master_down_ms(version: int, interval_ms: float, priority: int) -> float:
    """RFC Master_Down_Interval for a backup of ``priority``, in milliseconds."""
    return 3.0 * interval_ms + skew_ms(version, interval_ms, priority)


def _others_until(v: _Vrid, master: _Router) -> float:
    """Until when another router than ``master`` may still count as advertising (split-brain
    check): the latest ``last + mdi`` of the others that could (priority > 0, in a run), with
    a microsecond of slack for rounding; the exact test runs only before that time. Router
    state changes only in ``VrrpTracker._on_advert``, which resets the cached value."""
    until = -1.0
    for x in v.routers.values():
        if x is not master and x.priority > 0 and x.run_start is not None:
            until = max(until, x.last + x.mdi + 1e-6)
    return until


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
        "template",
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
        self.template: Advert | None = None  # the advert object fed last (fast path)

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
        "failovers",
        "family",
        "iface",
        "key",
        "last_advert",
        "last_gap_ms",
        "master",
        "master_since",
        "mismatch",
        "mismatch_reported",
        "mismatch_since",
        "others_until",
        "prev_last",
        "prev_master",
        "routers",
        "silence_at",
        "silence_mdi",
        "silence_queued",
        "silent",
        "split",
        "split_members",
        "split_since",
        "split_total",
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
        #: see _others_until (None: to be computed; reset whenever a router's state changes)
        self.others_until: float | None = None


class VrrpTracker:
    """Adverts in (``feed``), events out; ``tick(now)`` advances time without an advert.

    ``per_interface`` keys state by interface too (live capture on several links); a pcap
    without interface names is tracked per family and VRID.
    """

    def __init__(self, *, per_interface: bool = True, history: int = 200) -> None:
        self.per_interface = per_interface
        self._vrids: dict[Key, _Vrid] = {}
        self._heap: list[tuple[float, int, Key, str]] = []
        self._seq = 0
        self._events: deque[VrrpEvent] = deque(maxlen=history)
        self.adverts_total = 0
        self.bogus_total = 0
        self._bogus_no_vrid = 0
        self._local: frozenset[str] | None = None
        self.now = 0.0
        #: the current master of the VRID of the advert fed last (for the per-advert line)
        self.last_master: str | None = None
        # id(advert) -> (advert, its VRID, its router): the fast path for a master repeating
        # the same decoded advert (CachedDecoder hands the same object for identical packets)
        self._fast: dict[int, tuple[Advert, _Vrid, _Router]] = {}

    # -- public API -------------------------------------------------------------------------

    def feed(self, advert: Advert, time: float | None = None) -> list[VrrpEvent]:
        """One advert (valid or bogus); ``time`` overrides ``advert.time`` (the pcap fast path
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
        fast = self._fast.get(id(advert))
        if fast is not None:
            a, v, r = fast
            # the master repeating the advert it sent last, nothing else going on
            if (a is advert and r.template is advert and v.master == r.src and not v.split
                    and self._local is None and v.silence_mdi is not None):
                prev = r.last
                r.count += 1
                r.last = t
                r.times.append(t)
                v.last_advert = t
                if t - prev > r.mdi:
                    r.run_start = t
                v.silence_at = t + v.silence_mdi
                if not v.silence_queued:
                    self._queue_silence(v, r.interval_ms)
                self.last_master = r.src
                others_until = v.others_until
                if others_until is None:
                    others_until = v.others_until = _others_until(v, r)
                if t <= others_until:
                    for x in v.routers.values():
                        if x is not r and x.priority > 0 and x.run_start is not None \
                                and t - x.last <= x.mdi:
                            self._check_split(v, t, out, None)
                            break
                if out:
                    self._events.extend(out)
                return out
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
                if v.split:
                    self._check_split(v, now, out, None)
            elif what == "mismatch":
                self._check_mismatch(v, due, out)
        return out

    def set_local_addresses(self, addresses: Iterable[str], now: float) -> list[VrrpEvent]:
        """The addresses this host holds (from netlink); enables host/wire comparison."""
        self._local = frozenset(addresses)
        out: list[VrrpEvent] = []
        for v in self._vrids.values():
            self._update_mismatch(v, now, out)
        self._events.extend(out)
        return out

    def snapshot(self, now: float | None = None, *, capture: CaptureStats | None = None,
                 source: str = "") -> VrrpSnapshot:
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

    def _on_bogus(self, a: Advert, t: float, out: list[VrrpEvent]) -> None:
        self.last_master = None
        self.bogus_total += 1
        vrid = a.vrid if a.vrid is not None and a.error not in ("truncated", "version") else None
        if vrid is not None:
            key = self._key(a)
            v = self._vrids.get(key)
            if v is None:
                v = self._vrids[key] = _Vrid(key)
            v.bogus += 1
        else:
            self._bogus_no_vrid += 1
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
        key = self._key(a)
        v = self._vrids.get(key)
        if v is None:
            v = self._vrids[key] = _Vrid(key)
        src = a.src
        v.others_until = None  # a router's state changes below (see _others_until)
        r = v.routers.get(src)
        new = r is None
        if r is None:
            r = v.routers[src] = _Router(a, t)
        prio = a.priority or 0
        interval = a.interval_ms or 0
        version = a.version or 2
        changed = (
            new
            or r.interval_ms != interval
            or r.version != version
            or r.auth_type != a.auth_type
            or r.addresses != a.addresses
        )
        if changed or r.priority != prio:
            r.mdi = master_down_ms(version, interval, max(prio, 1)) / 1000.0
            v.silence_mdi = None
        prev_last = r.last
        r.priority = prio
        r.interval_ms = interval
        r.version = version
        r.auth_type = a.auth_type
        if r.addresses != a.addresses:
            r.addresses = a.addresses
            r.addr_set = frozenset(a.addresses)
        if a.src_mac:
            r.mac = a.src_mac
        r.count += 1
        r.last = t
        r.times.append(t)
        v.last_advert = t
        if changed and len(v.routers) > 1:
            self._check_conflict(v, t, out)

        if prio == 0:
            r.run_start = None
            if v.master == src:
                v.master = None
                v.prev_master = src
                v.prev_last = t
                v.silent = False
                out.append(
                    self._event(
                        v, t, "resign",
                        f"VRID {v.vrid}: master {src} resigned (priority 0)",
                        master=None, previous=src, sources=(src,),
                    )
                )
                v.silence_at = t + self._silence_mdi(v, r)
                self._queue_silence(v, interval)
            if v.split:
                self._check_split(v, t, out, t)
            self.last_master = v.master
            return

        if r.run_start is None or t - prev_last > r.mdi:
            r.run_start = t
        r.template = a
        if len(self._fast) >= 65536:
            self._fast.clear()
        self._fast[id(a)] = (a, v, r)
        master = v.master
        if master is None:
            previous = v.prev_master
            if not v.ever_master:
                out.append(
                    self._event(
                        v, t, "master", f"VRID {v.vrid}: {src} is master (priority {prio})",
                        master=src, sources=(src,),
                    )
                )
            elif previous == src or previous is None:
                out.append(
                    self._event(
                        v, t, "master",
                        f"VRID {v.vrid}: {src} is master again after "
                        f"{(t - v.prev_last):.2f} s without adverts",
                        master=src, previous=previous, gap_ms=round((t - v.prev_last) * 1000, 3),
                        sources=(src,),
                    )
                )
            else:
                self._change(v, t, "failover", src, previous, v.prev_last, out)
            v.ever_master = True
            v.master = src
            v.master_since = t
            v.silent = False
        elif master != src:
            m = v.routers[master]
            if t - m.last > CURRENT_INTERVALS * m.interval_ms / 1000.0:
                self._change(v, t, "failover", src, master, m.last, out)
                v.master = src
                v.master_since = t
            elif prio > m.priority:
                self._change(v, t, "preempt", src, master, m.last, out)
                v.master = src
                v.master_since = t
        self.last_master = v.master
        if v.master == src:
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
        elif len(v.routers) > 1:
            # only worth a look when another router is advertising too
            for x in v.routers.values():
                if x is not r and x.priority > 0 and x.run_start is not None \
                        and t - x.last <= x.mdi:
                    self._check_split(v, t, out, None)
                    break

    def _queue_silence(self, v: _Vrid, interval_ms: int) -> None:
        """Lazy timer: one heap entry per VRID; when it pops early (newer adverts moved
        ``silence_at``) it is pushed again for the new time."""
        assert v.silence_at is not None
        v.silence_queued = True
        self._push(v.silence_at + SILENT_GRACE * interval_ms / 1000.0, v.key, "silence")

    def _change(
        self, v: _Vrid, t: float, kind: str, src: str, previous: str, prev_last: float,
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
                v, t, kind, detail, master=src, previous=previous, gap_ms=gap_ms,
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
                v, at, "silent",
                f"VRID {v.vrid}: master {watched} went silent and nobody took over",
                master=None, previous=watched, sources=(watched,),
            )
        )
        if v.split:
            self._check_split(v, now, out, None)

    def _check_split(self, v: _Vrid, now: float, out: list[VrrpEvent], at: float | None) -> None:
        active = [
            x for x in v.routers.values()
            if x.priority > 0 and x.run_start is not None and now - x.last <= x.mdi
        ]
        if not v.split:
            if len(active) < 2:
                return
            members: set[str] = set()
            for i, a in enumerate(active):
                for b in active[i + 1 :]:
                    start = max(a.run_start or 0.0, b.run_start or 0.0)
                    window = now - max(a.mdi, b.mdi)
                    if start < window:
                        start = window
                    if (
                        sum(1 for x in a.times if x >= start) >= 2
                        and sum(1 for x in b.times if x >= start) >= 2
                    ):
                        members.add(a.src)
                        members.add(b.src)
            if len(members) < 2:
                return
            v.split = True
            v.split_since = now
            v.split_members = tuple(sorted(members, key=_ip_key))
            for x in active:
                self._push(x.last + x.mdi + 1e-6, v.key, "split")
            out.append(
                self._event(
                    v, now, "split_brain",
                    f"VRID {v.vrid}: split brain, {len(members)} routers advertise as master: "
                    + ", ".join(v.split_members),
                    master=v.master, sources=v.split_members,
                )
            )
            return
        if len(active) >= 2:
            # still split: re-check when the next one could expire
            for x in active:
                if x.last == now:
                    self._push(x.last + x.mdi + 1e-6, v.key, "split")
            return
        if at is None:
            gone = [
                x.last + x.mdi for x in v.routers.values()
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
                v, at, "split_brain_cleared",
                f"VRID {v.vrid}: split brain over"
                + (f", {remaining} is the only master" if remaining else ""),
                master=v.master, sources=sources,
            )
        )

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
                v, t, "conflict",
                f"VRID {v.vrid}: routers disagree on {', '.join(fields)} ({desc})",
                master=v.master, sources=sources, fields=tuple(fields),
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
                self._push(now + MISMATCH_GRACE_INTERVALS * interval, v.key, "mismatch")
        elif text is not None:
            self._check_mismatch(v, now, out)

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
                v, now, "host_mismatch", f"VRID {v.vrid}: {v.mismatch}",
                master=v.master, sources=(v.master,) if v.master else (),
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
        )


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
