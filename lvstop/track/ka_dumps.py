"""When the dashboard asks keepalived for its state dumps: rarely, and only for a reason.

Each dump is a signal keepalived logs ("Printing VRRP data on signal", …) and answers by
stopping its VRRP process while it writes; an exporter that signalled keepalived every 20 s
was tied to timer-expiry warnings and a split brain (acassen/keepalived#2066). So the
dashboard derives what it can from the config and the kernel table (``lvstop.track.drift``
without keepalived's state) and asks keepalived only when:

- the kernel table changed in a way a verdict depends on: a configured real server appeared,
  vanished or changed weight (``fingerprint``), and the change held for one more refresh
  (two checkers failing together are one round, not two);
- and the last round is at least ``min_gap`` seconds old (60 s by default; 0: never on its
  own), else the change waits until then;
- or the user asked (the dashboard's key), which ``DumpPolicy`` does not limit.

A dump taken before a real server's last change does not speak for it (``current``): its
verdict is derived again until the next round.

Pure: fingerprints in, decisions out, the time handed in.
"""

from __future__ import annotations

from collections.abc import Mapping

from lvstop.track.drift import Drift

#: real server key -> its weight in the kernel, None when absent from the kernel table
Fingerprint = Mapping[str, int | None]


def fingerprint(drift: Drift) -> dict[str, int | None]:
    """What keepalived's verdicts depend on, from a drift computed with or without its state:
    every configured (or kernel-only) real server of keepalived's services and its weight."""
    return {rs.key: rs.kernel_weight for vs in drift.virtual_servers for rs in vs.real_servers}


class DumpPolicy:
    def __init__(self, min_gap: float = 60.0) -> None:
        self.min_gap = min_gap
        self._seen: dict[str, int | None] | None = None
        self._dumped_for: dict[str, int | None] | None = None
        self.last_round: float | None = None
        #: the kernel changed since the last dump and a round is due (now or after min_gap)
        self.pending = False

    def observe(self, fp: Fingerprint, now: float) -> bool:
        """A refresh saw ``fp``: whether to ask keepalived now."""
        current = dict(fp)
        if self._seen is None:  # the first look: nothing changed yet, nothing to ask
            self._seen = current
            return False
        if current != self._seen:
            self._seen = current
            self.pending = current != self._dumped_for
            return False  # wait one refresh: changes that come together make one round
        if not self.pending or self.min_gap <= 0:
            return False
        return self.last_round is None or now - self.last_round >= self.min_gap

    def asked(self, fp: Fingerprint, now: float) -> None:
        """keepalived was asked (by the policy or the user) with the kernel as ``fp``."""
        self.last_round = now
        self._dumped_for = dict(fp)
        self._seen = dict(fp)
        self.pending = False

    def current(self, key: str, fp: Fingerprint) -> bool:
        """Whether the last dump still speaks for real server ``key`` (unchanged since)."""
        if self._dumped_for is None or key not in self._dumped_for:
            return False
        return self._dumped_for[key] == fp.get(key)

    def due_in(self, now: float) -> float | None:
        """Seconds until a pending round may go (None: nothing pending or never on its own)."""
        if not self.pending or self.min_gap <= 0:
            return None
        if self.last_round is None:
            return 0.0
        return max(0.0, self.last_round + self.min_gap - now)
