"""The dashboard's pollers, described as data: what each reads, the message it posts, how often.

One worker per poller (``LvstopApp._start_poller``) runs ``Poller.run``: read, post, sleep,
read again, so a slow read never overlaps the next. A failure ends the worker; the App's one
failure handler shows it and starts the poller again after ``retry`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from textual.message import Message

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Poller(Generic[T]):
    """One source the App polls.

    ``fetch`` reads it (None: nothing to report this time); ``message`` turns what it read
    into the message the App handles; ``interval`` is the seconds from one read's start to
    the next (asked each time: the App's interval may change); ``retry`` the seconds before
    a failed poller starts again; ``start`` runs once before the first read; ``pauses``:
    whether the pause key stops it. Setting ``wake`` starts the next read at once.
    """

    name: str
    fetch: Callable[[], Awaitable[T | None]]
    message: Callable[[T], Message]
    interval: Callable[[], float]
    retry: Callable[[], float]
    start: Callable[[], Awaitable[None]] | None = None
    pauses: bool = True
    wake: asyncio.Event = field(default_factory=asyncio.Event, compare=False)

    async def run(self, post: Callable[[Message], object], paused: Callable[[], bool]) -> None:
        """Poll until cancelled (or until a read raises: the worker's failure)."""
        if self.start is not None:
            await self.start()
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            self.wake.clear()
            if not (self.pauses and paused()):
                value = await self.fetch()
                if value is not None:
                    post(self.message(value))
            delay = max(0.05, self.interval() - (loop.time() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)


#: seconds a thread holds the GIL before handing it over (Python's default: 0.005)
SWITCH_INTERVAL = 0.001


@contextlib.contextmanager
def responsive_loop() -> Iterator[None]:
    """While the dashboard runs: the pollers' threads (the IPVS reader parsing a table) hand
    the GIL back to the event loop every millisecond, not every 5, so a key is answered while
    a 50,000-server table is parsed (bench_dashboard, keypress p95 at 10,000×5 in one session:
    209 and 469 ms without, 45 and 123 ms with)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
