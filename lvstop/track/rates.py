"""lvstop's own rates: counter deltas between two polls, and short histories for sparklines.

Why not only the kernel's ``cps``/``inpps``/…? Those are a 2-second EWMA the kernel keeps per
object (``ip_vs_est``): smooth but lagging, and zero for a while after a service appears. The
rates here are exact averages over the poll interval, from the 64-bit counters. Front ends say
which of the two a column shows.

Pure code: snapshots in, rates out. Rules:

- a new object (first seen this poll) has no rate yet (absent from the result);
- a removed object is forgotten (its history too);
- a counter that went *down* (``ipvsadm -Z``, or the object was deleted and re-created between
  polls) is a reset: no rate this poll, the new counters become the base;
- a non-positive time step (same snapshot twice, replayed data without times) gives no rates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lvstop.model.ipvs import IpvsSnapshot, Stats

#: the key of the sum over all services
TOTAL_KEY = "total"
RATE_FIELDS = ("cps", "inpps", "outpps", "inbps", "outbps")


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-second averages over one poll interval: connections, packets, **bytes** (not bits)."""

    cps: float = 0.0
    inpps: float = 0.0
    outpps: float = 0.0
    inbps: float = 0.0
    outbps: float = 0.0

    def __add__(self, other: Rates) -> Rates:
        return Rates(
            self.cps + other.cps,
            self.inpps + other.inpps,
            self.outpps + other.outpps,
            self.inbps + other.inbps,
            self.outbps + other.outbps,
        )


ZERO_RATES = Rates()


def delta_rates(prev: Stats, cur: Stats, seconds: float) -> Rates | None:
    """Rates from two counter readings ``seconds`` apart; None on a reset or a bad interval."""
    if seconds <= 0:
        return None
    d_conns = cur.conns - prev.conns
    d_inpkts = cur.inpkts - prev.inpkts
    d_outpkts = cur.outpkts - prev.outpkts
    d_inbytes = cur.inbytes - prev.inbytes
    d_outbytes = cur.outbytes - prev.outbytes
    if min(d_conns, d_inpkts, d_outpkts, d_inbytes, d_outbytes) < 0:
        return None
    return Rates(
        d_conns / seconds,
        d_inpkts / seconds,
        d_outpkts / seconds,
        d_inbytes / seconds,
        d_outbytes / seconds,
    )


def counters_by_key(snapshot: IpvsSnapshot) -> dict[str, Stats]:
    """Every service and real server of a snapshot by its stable key."""
    out = dict(snapshot.service_stats)
    for svc in snapshot.services:
        for rs in svc.real_servers:
            out[rs.key] = rs.stats
    return out


def compute_rates(
    prev: Mapping[str, Stats], cur: Mapping[str, Stats], seconds: float
) -> dict[str, Rates]:
    """Rates for every key present in both readings whose counters did not reset."""
    out: dict[str, Rates] = {}
    for key, stats in cur.items():
        before = prev.get(key)
        if before is None:
            continue
        rates = delta_rates(before, stats, seconds)
        if rates is not None:
            out[key] = rates
    return out


class RingBuffer:
    """The last ``size`` values of one series (oldest first), for a sparkline."""

    __slots__ = ("_values",)

    def __init__(self, size: int, values: Iterable[float] = ()) -> None:
        if size < 1:
            raise ValueError("ring buffer size must be at least 1")
        self._values: deque[float] = deque(values, maxlen=size)

    def append(self, value: float) -> None:
        self._values.append(value)

    @property
    def size(self) -> int:
        maxlen = self._values.maxlen
        assert maxlen is not None
        return maxlen

    def values(self) -> list[float]:
        return list(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def last(self) -> float | None:
        return self._values[-1] if self._values else None


class RateTracker:
    """Feed it every snapshot in order; it keeps the latest rates and a history per key.

    ``update()`` returns the rates of this poll by key (services, real servers and
    ``TOTAL_KEY``, the sum of the services' rates). ``history(key, field)`` is the series for a
    sparkline: one value per poll in which the key had a rate (a reset leaves no value).
    """

    def __init__(self, history: int = 120) -> None:
        self._size = history
        self._prev: dict[str, Stats] = {}
        self._prev_time: float | None = None
        self._history: dict[str, dict[str, RingBuffer]] = {}
        self.latest: dict[str, Rates] = {}

    def update(self, snapshot: IpvsSnapshot) -> dict[str, Rates]:
        cur = counters_by_key(snapshot)
        seconds = 0.0 if self._prev_time is None else snapshot.taken_at - self._prev_time
        if self._prev_time is not None and seconds <= 0:
            # Same (or an older) snapshot again: nothing new to say; keep the last rates.
            return self.latest
        rates = compute_rates(self._prev, cur, seconds)
        service_keys = {svc.key for svc in snapshot.services}
        if self._prev_time is not None:
            total = ZERO_RATES
            for key in service_keys:
                r = rates.get(key)
                if r is not None:
                    total = total + r
            rates[TOTAL_KEY] = total
        # forget the history of objects that are gone
        for key in [k for k in self._history if k not in cur and k != TOTAL_KEY]:
            del self._history[key]
        for key, r in rates.items():
            series = self._history.get(key)
            if series is None:
                series = self._history[key] = {name: RingBuffer(self._size) for name in RATE_FIELDS}
            for name in RATE_FIELDS:
                series[name].append(getattr(r, name))
        self._prev = cur
        self._prev_time = snapshot.taken_at
        self.latest = rates
        return rates

    def rates(self, key: str) -> Rates | None:
        return self.latest.get(key)

    def history(self, key: str, name: str = "cps") -> list[float]:
        if name not in RATE_FIELDS:
            raise ValueError(f"unknown rate {name!r}; one of {', '.join(RATE_FIELDS)}")
        series = self._history.get(key)
        return [] if series is None else series[name].values()
