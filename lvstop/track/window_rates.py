"""Rates over a window of at least 2 seconds, for the dashboard (no Textual).

Why not the per-poll deltas of ``lvstop.track.rates.RateTracker`` directly: the kernel folds
its per-CPU counters into the counters it exports only when its estimator runs, every 2 s.
Polled each second, the deltas alternate between 0 and twice the real rate (seen in the lab
recordings: a sparkline of ▁█▁█▁). Here a rate is the counter difference between the newest
snapshot and the newest older one at least ``window`` seconds before it (none yet: no rate),
using ``lvstop.track.rates``' reset-aware maths.

Services' rates are computed every poll (their sparklines need a history); a real server's
only when asked for (the dashboard shows one service's real servers at a time: with 10,000
real servers, computing them all would cost most of a refresh).
"""

from __future__ import annotations

from collections import deque

from lvstop.model.ipvs import IpvsSnapshot, Stats
from lvstop.track.rates import RATE_FIELDS, Rates, RingBuffer, delta_rates

KERNEL_STATS_PERIOD = 2.0


def _counters(snapshot: IpvsSnapshot) -> tuple[dict[str, Stats], dict[str, Stats]]:
    services: dict[str, Stats] = {}
    real_servers: dict[str, Stats] = {}
    for svc in snapshot.services:
        key = svc.key
        services[key] = svc.stats
        for rs in svc.real_servers:
            real_servers[f"{key}->{rs.endpoint}"] = rs.stats
    return services, real_servers


class WindowRates:
    def __init__(self, window: float = KERNEL_STATS_PERIOD, history: int = 60) -> None:
        self.window = window
        self._history_size = history
        Counters = tuple[float, dict[str, Stats], dict[str, Stats]]
        self._past: deque[Counters] = deque()
        self._base: Counters | None = None
        self._now: Counters | None = None
        self._history: dict[str, dict[str, RingBuffer]] = {}
        self._services: dict[str, Rates] = {}
        self._rs_cache: dict[str, Rates | None] = {}

    def update(self, snapshot: IpvsSnapshot) -> None:
        now = snapshot.taken_at
        if self._past and now <= self._past[-1][0]:
            return  # the same snapshot again (or older): nothing new
        services, real_servers = _counters(snapshot)
        base = None
        for entry in self._past:
            if now - entry[0] >= self.window - 1e-6:
                base = entry
            else:
                break
        # Shorter than the window: no rate yet (a 1 s delta may read 0 or double).
        self._base = base
        self._now = (now, services, real_servers)
        self._rs_cache = {}
        self._services = {}
        if base is not None:
            seconds = now - base[0]
            for key, stats in services.items():
                before = base[1].get(key)
                if before is not None:
                    r = delta_rates(before, stats, seconds)
                    if r is not None:
                        self._services[key] = r
        self._past.append(self._now)
        while len(self._past) > 1 and now - self._past[1][0] >= self.window - 1e-6:
            self._past.popleft()
        for key in [k for k in self._history if k not in services]:
            del self._history[key]
        for key, r in self._services.items():
            series = self._history.get(key)
            if series is None:
                series = self._history[key] = {
                    name: RingBuffer(self._history_size) for name in RATE_FIELDS}
            for name in RATE_FIELDS:
                series[name].append(getattr(r, name))

    def rates(self, key: str) -> Rates | None:
        """A service's or a real server's rates over the window (None: not known yet)."""
        if "->" not in key:
            return self._services.get(key)
        if key in self._rs_cache:
            return self._rs_cache[key]
        r = None
        if self._base is not None and self._now is not None:
            before, after = self._base[2].get(key), self._now[2].get(key)
            if before is not None and after is not None:
                r = delta_rates(before, after, self._now[0] - self._base[0])
        self._rs_cache[key] = r
        return r

    def history(self, key: str, name: str = "cps") -> list[float]:
        series = self._history.get(key)
        return [] if series is None else series[name].values()
