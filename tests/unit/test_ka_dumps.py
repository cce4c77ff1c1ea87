"""DumpPolicy: keepalived is asked for its dumps only when a verdict depends on a change."""

from __future__ import annotations

from lvstop.track.ka_dumps import DumpPolicy

A, B = "tcp:10.0.5.96:8888->10.0.5.91:8888", "tcp:10.0.5.96:8888->10.0.5.92:8888"
STEADY: dict[str, int | None] = {A: 1, B: 1}
Frames = list[tuple[float, dict[str, int | None]]]


def run(policy: DumpPolicy, frames: Frames) -> list[float]:
    """The times at which the policy asks (and is taken up on it)."""
    asked = []
    for now, fp in frames:
        if policy.observe(fp, now):
            policy.asked(fp, now)
            asked.append(now)
    return asked


def test_steady_table_never_asks() -> None:
    frames = [(float(t), dict(STEADY)) for t in range(0, 3600, 2)]
    assert run(DumpPolicy(60.0), frames) == []


def test_a_vanished_real_server_asks_once_after_one_more_refresh() -> None:
    frames = [
        (0.0, STEADY),
        (2.0, STEADY),
        (4.0, {A: None, B: 1}),
        (6.0, {A: None, B: 1}),
        *[(float(t), {A: None, B: 1}) for t in range(8, 600, 2)],
    ]
    assert run(DumpPolicy(60.0), frames) == [6.0]


def test_changes_together_make_one_round() -> None:
    frames: Frames = [
        (0.0, STEADY),
        (2.0, {A: None, B: 1}),
        (4.0, {A: None, B: None}),
        (6.0, {A: None, B: None}),
        (8.0, {A: None, B: None}),
    ]
    assert run(DumpPolicy(60.0), frames) == [6.0]


def test_at_most_one_round_per_gap_and_the_pending_change_goes_then() -> None:
    later: Frames = [(float(t), {A: 0, B: 1}) for t in range(14, 200, 2)]
    frames: Frames = [
        (0.0, STEADY),
        (2.0, {A: None, B: 1}),
        (4.0, {A: None, B: 1}),  # at 4
        (10.0, {A: 0, B: 1}),
        (12.0, {A: 0, B: 1}),  # weight change: due at 64
        *later,
    ]
    policy = DumpPolicy(60.0)
    assert run(policy, frames) == [4.0, 64.0]
    assert not policy.pending


def test_a_change_undone_before_the_round_asks_nothing() -> None:
    policy = DumpPolicy(60.0)
    assert run(policy, [(0.0, STEADY), (2.0, {A: None, B: 1}), (4.0, {A: None, B: 1})]) == [4.0]
    frames = [
        (6.0, STEADY),
        (8.0, {A: None, B: 1}),
        *[(float(t), {A: None, B: 1}) for t in range(10, 200, 2)],
    ]
    assert run(policy, frames) == []  # back to what keepalived was last asked about


def test_gap_zero_never_asks_on_its_own_and_current_tracks_each_real_server() -> None:
    policy = DumpPolicy(0.0)
    assert run(policy, [(0.0, STEADY), (2.0, {A: None, B: 1}), (4.0, {A: None, B: 1})]) == []
    assert policy.pending and policy.due_in(4.0) is None  # out of date, left to the user
    policy.asked({A: None, B: 1}, 5.0)  # the user pressed K
    assert policy.current(A, {A: None, B: 1}) and policy.current(B, {A: None, B: 1})
    assert not policy.current(B, {A: None, B: 3}) and policy.current(A, {A: None, B: 3})
