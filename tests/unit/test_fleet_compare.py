"""The fleet's views of two directors recorded in the lab (``tests/data/fleet``, from
``tests/lab/test_fleet_lab.py``): the VRID matrix, the differences, the write plans."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from lvstop.errors import LvstopError
from lvstop.fleet import writes
from lvstop.fleet.client import parse_target
from lvstop.fleet.compare import differences, overview, vrid_matrix
from lvstop.fleet.model import DOWN, Director, director_view

DATA = Path(__file__).resolve().parents[1] / "data" / "fleet"
RS1 = "tcp:10.0.5.96:8888->10.0.5.91:8888"


def recorded(node: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{node}.json").read_text())
    return data


def view(data: dict[str, Any], name: str | None = None) -> Director:
    return director_view(name or data["name"], data["hello"], data["state"], updated_at=1.0)


@pytest.fixture
def d1() -> dict[str, Any]:
    return recorded("d1")


@pytest.fixture
def d2() -> dict[str, Any]:
    return recorded("d2")


def test_recorded_directors_agree(d1: dict[str, Any], d2: dict[str, Any]) -> None:
    a, b = view(d1), view(d2)
    assert a.live and b.live and a.ipvs is not None and len(a.ipvs.services) == 2
    assert differences([a, b]) == []
    rows = {r.vrid: r for r in vrid_matrix([a, b])}
    assert rows[51].states == ((a.name, "MASTER"), (b.name, "BACKUP"))
    assert rows[52].states == ((a.name, "BACKUP"), (b.name, "MASTER"))
    assert rows[51].wire_master == f"10.0.5.90 ({a.name})" and rows[51].flag is None
    o = overview(a)
    assert o.keepalived == "up" and "10.0.5.96" in o.vips_held and o.real_servers == 4


def test_no_master_and_two_masters_are_flagged(d1: dict[str, Any], d2: dict[str, Any]) -> None:
    both = copy.deepcopy(d2)
    both["state"]["instance"] = copy.deepcopy(d1["state"]["instance"])  # d2 MASTER of 51 too
    rows = {r.vrid: r for r in vrid_matrix([view(d1), view(both)])}
    assert rows[51].flag == "2 MASTERs"
    assert rows[52].flag == "no MASTER"


def test_a_director_down_is_unknown_not_a_difference(d1: dict[str, Any]) -> None:
    down = Director(name="root@10.0.5.93", status=DOWN, reason="Connection refused")
    rows = {r.vrid: r for r in vrid_matrix([view(d1), down])}
    assert rows[51].states[1] == ("root@10.0.5.93", "?") and rows[51].flag is None
    assert differences([view(d1), down]) == []


def test_weight_and_presence_differences(d1: dict[str, Any], d2: dict[str, Any]) -> None:
    changed = copy.deepcopy(d2)
    changed["state"]["real_server"][RS1]["weight"] = 3
    gone = "tcp:10.0.5.97:8888->10.0.5.92:8888"
    del changed["state"]["real_server"][gone]
    a, b = view(d1), view(changed)
    diffs = {(d.key, d.what): d for d in differences([a, b])}
    assert diffs[(RS1, "weight")].values == ((a.name, "1"), (b.name, "3"))
    assert diffs[(gone, "real server")].values == ((a.name, "present"), (b.name, "absent"))
    assert set(diffs) == {(RS1, "weight"), (gone, "real server")}
    assert overview(b, list(diffs.values())).differences == 2


def test_plan_lists_each_director_before_and_after(d1: dict[str, Any], d2: dict[str, Any]) -> None:
    a, b = view(d1), view(d2)
    down = Director(name="root@10.0.5.99", status=DOWN, reason="Connection refused")
    steps = writes.plan("drain", RS1, [a, b, down])
    assert [s.text() for s in steps] == [
        f"{a.name}: weight 1 → 0",
        f"{b.name}: weight 1 → 0",
        "root@10.0.5.99: skipped (not connected: Connection refused)",
    ]
    restore = writes.plan("restore", RS1, [a])
    assert restore[0].skip == "no weight remembered there"


def test_apply_reports_a_partial_failure_plainly(d1: dict[str, Any], d2: dict[str, Any]) -> None:
    a, b = view(d1), view(d2)
    steps = writes.plan("weight", RS1, [a, b], 3)
    calls: list[tuple[str, dict[str, Any]]] = []

    def requester(name: str, fail: bool) -> Any:
        async def request(op: str, **args: Any) -> dict[str, Any]:
            calls.append((name, {"op": op, **args}))
            if fail:
                raise LvstopError(f"{name}: the kernel rejected weight 3: EPERM")
            return {"message": f"{RS1}: weight 1 -> 3"}

        return request

    outcomes = asyncio.run(
        writes.apply(
            "weight",
            RS1,
            steps,
            {a.name: requester(a.name, False), b.name: requester(b.name, True)},
            3,
        )
    )
    assert [o.ok for o in outcomes] == [True, False]
    assert sorted(calls) == sorted(
        [
            (a.name, {"op": "weight", "rs": RS1, "weight": 3}),
            (b.name, {"op": "weight", "rs": RS1, "weight": 3}),
        ]
    )
    text, severity = writes.summary("weight", RS1, outcomes)
    assert severity == "error" and text.startswith(f"weight {RS1}: PARTIAL: done on {a.name}")
    assert "FAILED" in text and "EPERM" in text


@pytest.mark.parametrize(
    "text", ["-oProxyCommand=x", "a b", "host;rm", "", "root@", "x" * 300, "$(id)@h"]
)
def test_hosts_ssh_could_misread_are_refused(text: str) -> None:
    with pytest.raises(LvstopError):
        parse_target(text)


def test_hosts() -> None:
    assert parse_target("local").destination is None
    assert parse_target("root@10.0.5.90").destination == "root@10.0.5.90"
    assert parse_target("admin@[2001:db8::1]").destination == "admin@2001:db8::1"
    assert parse_target("lb1.example.net").destination == "lb1.example.net"


def test_host_groups_from_the_settings_file(tmp_path: Path) -> None:
    from lvstop import settings
    from lvstop.commands.top import fleet_targets

    conf_file = tmp_path / "lvstop.toml"
    conf_file.write_text('[groups]\npair1 = ["root@10.0.5.90", "root@10.0.5.93"]\n')
    conf = settings.load(conf_file)
    targets = fleet_targets(["pair1", "root@10.0.5.90", "local"], dict(conf.groups))
    assert [t.name for t in targets] == ["root@10.0.5.90", "root@10.0.5.93", "local"]
    conf_file.write_text('[groups]\npair1 = "root@d1"\n')
    with pytest.raises(LvstopError, match=r"\[groups\]: each group must be a list of hosts"):
        settings.load(conf_file)
