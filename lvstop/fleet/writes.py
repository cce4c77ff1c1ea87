"""A write to one director or to all of them: each director's before → after (for the one
confirm dialog), then each director's result, said plainly (nothing retried silently)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lvstop.errors import one_line
from lvstop.fleet.model import Director

OPS = ("drain", "restore", "weight")


@dataclass(frozen=True, slots=True)
class Step:
    director: str
    before: str
    after: str
    #: why this director is left out (None: the write is sent)
    skip: str | None = None

    def text(self) -> str:
        if self.skip:
            return f"{self.director}: skipped ({self.skip})"
        return f"{self.director}: weight {self.before} → {self.after}"


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
) -> list[Outcome]:
    """Send the write to every director a step does not skip, all at once; one outcome each
    (in the steps' order), failures with their one-line reason."""
    args: dict[str, Any] = {"rs": rs_key}
    if op == "weight":
        args["weight"] = weight

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
