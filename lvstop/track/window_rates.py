"""Rates over a window of at least 2 seconds, for the dashboard (no Textual).

Why not the per-poll deltas of ``lvstop.track.rates.RateTracker`` directly: the kernel folds
its per-CPU counters into the counters it exports only when its estimator runs, every 2 s.
Polled each second, the deltas alternate between 0 and twice the real rate (seen in the lab
recordings: a sparkline of ▁█▁█▁). Here a rate is the counter difference between the newest
snapshot and the newest older one at least ``window`` seconds before it (none yet: no rate),
using ``lvstop.track.rates``' reset-aware maths.

Everything is computed on demand, for what the screen shows: a service's rates and its
sparkline history when its row is drawn (or the table is sorted by a rate), a real server's
when its service's real servers are shown. An update only keeps the snapshot's counters; with
10,000 services, computing every rate each poll would cost most of a refresh. A real server's
rate needs two polls that read its service's real servers (``IpvsSnapshot.real_servers_read``:
the dashboard reads those of services it does not show less often).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from lvstop.model.ipvs import IpvsSnapshot, Stats
from lvstop.track.rates import RATE_FIELDS, Rates, delta_rates

KERNEL_STATS_PERIOD = 2.0


@dataclass(slots=True)
class _Poll:
    """One poll's counters: the services' by key, the snapshot for its real servers, the
    poll the window reaches back to (None: none old enough yet) and the rates computed."""

    taken_at: float
    services: Mapping[str, Stats]
    #: None once no window ends at it or starts from it (its real servers are not needed)
    snapshot: IpvsSnapshot | None
    base: _Poll | None
    rates: dict[str, Rates | None] = field(default_factory=dict)
    #: per service key: its real servers' counters by real server key (when read this poll)
    real_servers: dict[str, dict[str, Stats] | None] = field(default_factory=dict)


class WindowRates:
    def __init__(self, window: float = KERNEL_STATS_PERIOD, history: int = 60) -> None:
        self.window = window
        self._history_size = history
        #: the polls the window and the histories need, oldest first
        self._polls: deque[_Poll] = deque()
        self._now: _Poll | None = None

    def update(self, snapshot: IpvsSnapshot) -> None:
        now = snapshot.taken_at
        if self._polls and now <= self._polls[-1].taken_at:
            return  # the same snapshot again (or older): nothing new
        services = snapshot.service_stats
        base = None
        for poll in reversed(self._polls):
            if now - poll.taken_at >= self.window - 1e-6:
                base = poll
                break
        # Shorter than the window: no rate yet (a 1 s delta may read 0 or double).
        self._now = _Poll(now, services, snapshot, base)
        self._polls.append(self._now)
        # keep the last ``history`` polls and the polls their windows reach back to
        keep = self._polls[max(0, len(self._polls) - self._history_size)]
        oldest = keep.base or keep
        while self._polls[0] is not oldest:
            self._polls.popleft()
        for poll in self._polls:  # a window never reaches back past what is kept
            if poll.base is not None and poll.base.taken_at < oldest.taken_at:
                poll.base = None
            if base is not None and poll.taken_at < base.taken_at:
                # never a window's start again (``base`` is newer and old enough): the
                # real servers' rates need no more of it than its services' counters
                poll.snapshot = None

    def rates(self, key: str) -> Rates | None:
        """A service's or a real server's rates over the window (None: not known yet)."""
        return None if self._now is None else self._rates(self._now, key)

    def _rates(self, poll: _Poll, key: str) -> Rates | None:
        if key in poll.rates:
            return poll.rates[key]
        r = None
        base = poll.base
        if base is not None:
            if "->" not in key:
                before, after = base.services.get(key), poll.services.get(key)
            else:
                svc_key = key.rpartition("->")[0]
                old, new = _real_servers(base, svc_key), _real_servers(poll, svc_key)
                before = None if old is None else old.get(key)
                after = None if new is None else new.get(key)
            if before is not None and after is not None:
                r = delta_rates(before, after, poll.taken_at - base.taken_at)
        poll.rates[key] = r
        return r

    def history(self, key: str, name: str = "cps") -> list[float]:
        """A service's rate ``name`` at each of the last polls (oldest first) in which it had
        one, back to the last poll without the service."""
        if name not in RATE_FIELDS:
            raise ValueError(f"unknown rate {name!r}; one of {', '.join(RATE_FIELDS)}")
        values: list[float] = []
        for poll in reversed(self._polls):
            if key not in poll.services:
                break
            r = self._rates(poll, key)
            if r is not None:
                values.append(getattr(r, name))
        values.reverse()
        return values[-self._history_size :]


def _real_servers(poll: _Poll, svc_key: str) -> Mapping[str, Stats] | None:
    """The counters of a service's real servers in ``poll`` (None: not read in that poll)."""
    if svc_key in poll.real_servers:
        return poll.real_servers[svc_key]
    snapshot = poll.snapshot
    svc = None if snapshot is None else snapshot.service(svc_key)
    counters = None
    if svc is not None and snapshot is not None and snapshot.real_servers_fresh(svc_key):
        counters = {f"{svc_key}->{rs.endpoint}": rs.stats for rs in svc.real_servers}
    poll.real_servers[svc_key] = counters
    return counters
