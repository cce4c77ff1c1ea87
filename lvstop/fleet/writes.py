"""A write to one director or to all of them: each director's before → after (for the one
confirm dialog), then each director's result, said plainly (nothing retried silently)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lvstop.errors import one_line
from lvstop.fleet.model import Director
from lvstop.model.ipvs import Timeouts

OPS = ("drain", "restore", "weight")
#: what a timeouts write names instead of a real server
TIMEOUTS_TARGET = "timeouts"


@dataclass(frozen=True, slots=True)
class Step:
    director: str
    before: str
    after: str
    #: why this director is left out (None: the write is sent)
    skip: str | None = None
    #: what changes: "weight", or "timeouts tcp/tcpfin/udp"
    what: str = "weight"

    def text(self) -> str:
        if self.skip:
            return f"{self.director}: skipped ({self.skip})"
        return f"{self.director}: {self.what} {self.before} → {self.after}"


def timeouts_text(t: Timeouts) -> str:
    return f"{t.tcp}/{t.tcpfin}/{t.udp}"


def plan_timeouts(directors: Sequence[Director], timeouts: Timeouts) -> list[Step]:
    """What setting ``timeouts`` (0: a value left unchanged, as ``ipvsadm --set``) would do on
    each of ``directors``."""
    what = "timeouts tcp/tcpfin/udp"
    steps = []
    for d in directors:
        if not d.live:
            steps.append(Step(d.name, "?", "?", f"not connected: {d.reason or d.status}", what))
            continue
        if not d.can_write:
            steps.append(Step(d.name, "?", "?", "its agent refuses writes (read-only)", what))
            continue
        now = d.ipvs.timeouts if d.ipvs is not None else None
        if now is None:
            steps.append(Step(d.name, "?", "?", "its timeouts are unknown", what))
            continue
        after = Timeouts(
            timeouts.tcp or now.tcp, timeouts.tcpfin or now.tcpfin, timeouts.udp or now.udp
        )
        if after == now:
            steps.append(Step(d.name, timeouts_text(now), timeouts_text(after), "unchanged", what))
            continue
        steps.append(Step(d.name, timeouts_text(now), timeouts_text(after), None, what))
    return steps


def plan(
    op: str, rs_key: str, directors: Sequence[Director], weight: int | None = None
) -> list[Step]:
    """What ``op`` on ``rs_key`` would do on each of ``directors``."""
    if op not in OPS:
        raise ValueError(f"unknown write {op!r}")
    steps = []
    for d in directors:
        if not d.live:
            steps.append(Step(d.name, "?", "?", f"not connected: {d.reason or d.status}"))
            continue
        if not d.can_write:
            steps.append(Step(d.name, "?", "?", "its agent refuses writes (read-only)"))
            continue
        rs = d.ipvs.real_server(rs_key) if d.ipvs is not None else None
        if rs is None:
            steps.append(Step(d.name, "-", "-", "no such real server there"))
            continue
        before = str(rs.weight)
        if op == "drain":
            steps.append(Step(d.name, before, "0"))
        elif op == "restore":
            remembered = d.drained.get(rs_key)
            if remembered is None:
                steps.append(Step(d.name, before, before, "no weight remembered there"))
            else:
                steps.append(Step(d.name, before, str(remembered)))
        else:
            steps.append(Step(d.name, before, str(weight)))
    return steps


@dataclass(frozen=True, slots=True)
class Outcome:
    director: str
    ok: bool
    message: str


Request = Callable[..., Awaitable[dict[str, Any]]]


async def apply(
    op: str,
    rs_key: str,
    steps: Sequence[Step],
    requesters: Mapping[str, Request],
    weight: int | None = None,
    timeouts: Timeouts | None = None,
) -> list[Outcome]:
    """Send the write to every director a step does not skip, all at once; one outcome each
    (in the steps' order), failures with their one-line reason. A timeouts write
    (``rs_key`` ``TIMEOUTS_TARGET``) sends ``timeouts`` to each as they are (0: unchanged
    there, so each director keeps the values the user did not set)."""
    args: dict[str, Any] = {"rs": rs_key}
    if op == "weight":
        args["weight"] = weight
    elif op == "timeouts":
        if timeouts is None:
            raise ValueError("a timeouts write needs its timeouts")
        args = {"tcp": timeouts.tcp, "tcpfin": timeouts.tcpfin, "udp": timeouts.udp}

    async def one(step: Step) -> Outcome:
        try:
            result = await requesters[step.director](op, **args)
        except Exception as exc:  # each director's failure is its own line
            return Outcome(step.director, False, one_line(exc))
        return Outcome(step.director, True, str(result.get("message", "done")))

    sent = [s for s in steps if s.skip is None]
    return list(await asyncio.gather(*(one(s) for s in sent)))


#: a notification's severity, as Textual names it (this module does not import Textual)
Severity = Literal["information", "warning", "error"]


def summary(op: str, rs_key: str, outcomes: Sequence[Outcome]) -> tuple[str, Severity]:
    """(one line for a notification, its severity)."""
    done = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    if not outcomes:
        return f"{op} {rs_key}: sent to no director", "warning"
    if not failed:
        return f"{op} {rs_key}: done on {', '.join(o.director for o in done)}", "information"
    text = "; ".join(f"{o.director} FAILED: {o.message}" for o in failed)
    if done:
        return (
            f"{op} {rs_key}: PARTIAL: done on {', '.join(o.director for o in done)}; {text}"
        ), "error"
    return f"{op} {rs_key}: {text}", "error"
