"""Rates over a window of at least 2 seconds, for the dashboard (no Textual).

Why not the per-poll deltas of ``lvstop.track.rates.RateTracker`` directly: the kernel folds
its per-CPU counters into the counters it exports only when its estimator runs, every 2 s.
Polled each second, the deltas alternate between 0 and twice the real rate (seen in the lab
recordings: a sparkline of ▁█▁█▁). Here a rate is the counter difference between the newest
snapshot and the newest older one at least ``window`` seconds before it (the oldest kept, at
first), using ``lvstop.track.rates``' reset-aware maths.
"""

from __future__ import annotations

from collections import deque

from lvstop.model.ipvs import IpvsSnapshot, Stats
from lvstop.track.rates import RATE_FIELDS, Rates, RingBuffer, compute_rates, counters_by_key

KERNEL_STATS_PERIOD = 2.0


class WindowRates:
    def __init__(self, window: float = KERNEL_STATS_PERIOD, history: int = 60) -> None:
        self.window = window
        self._history_size = history
        self._past: deque[tuple[float, dict[str, Stats]]] = deque()
        self._history: dict[str, dict[str, RingBuffer]] = {}
        self.latest: dict[str, Rates] = {}

    def update(self, snapshot: IpvsSnapshot) -> dict[str, Rates]:
        now = snapshot.taken_at
        if self._past and now <= self._past[-1][0]:
            return self.latest  # the same snapshot again (or older): nothing new
        current = counters_by_key(snapshot)
        base: tuple[float, dict[str, Stats]] | None = None
        for taken_at, counters in self._past:
            if now - taken_at >= self.window - 1e-6:
                base = (taken_at, counters)
            else:
                break
        if base is None and self._past:
            base = self._past[0]
        self.latest = {} if base is None else compute_rates(base[1], current, now - base[0])
        self._past.append((now, current))
        while len(self._past) > 1 and now - self._past[1][0] >= self.window - 1e-6:
            self._past.popleft()
        for key in [k for k in self._history if k not in current]:
            del self._history[key]
        for key, r in self.latest.items():
            series = self._history.get(key)
            if series is None:
                series = self._history[key] = {
                    name: RingBuffer(self._history_size) for name in RATE_FIELDS
                }
            for name in RATE_FIELDS:
                series[name].append(getattr(r, name))
        return self.latest

    def rates(self, key: str) -> Rates | None:
        return self.latest.get(key)

    def history(self, key: str, name: str = "cps") -> list[float]:
        series = self._history.get(key)
        return [] if series is None else series[name].values()
