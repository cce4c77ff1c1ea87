"""The dashboard's sources over an agent (``lvstop top --via``), fed d1's state as the fleet
client held it in the lab (``tests/data/fleet/d1.json``); the ``keepalived`` and ``conns``
results as the dashboard shows them, malformed ones refused in one line; a request made from
one of the App's threads answered on the loop the connection lives on."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from lvstop.errors import LvstopError
from lvstop.fleet.client import AgentClient, ConnectOptions, parse_target
from lvstop.fleet.model import LIVE
from lvstop.model.ipvs import ConnEntry
from lvstop.tui.remote import AgentLink, agent_sources, conn_entry, keepalived_view

DATA = Path(__file__).resolve().parents[1] / "data" / "fleet"


def connected_client() -> AgentClient:
    data = json.loads((DATA / "d1.json").read_text())
    client = AgentClient(parse_target("root@10.0.5.90"), ConnectOptions())
    client.status, client.hello, client.state = LIVE, data["hello"], data["state"]
    # the link's task would connect: mark it started, the state above is what it holds
    return client


def test_ipvs_host_and_actions_from_the_agent_state() -> None:
    client = connected_client()
    sources = agent_sources(client)
    link: Any = sources.ipvs.link  # type: ignore[attr-defined]
    link._task = asyncio.Future  # started (never awaited here)
    snap = asyncio.run(sources.ipvs.snapshot())
    assert [s.key for s in snap.services] == ["tcp:10.0.5.96:8888", "tcp:10.0.5.97:8888"]
    assert len(snap.services[0].real_servers) == 2 and snap.timeouts is not None
    host = sources.host.read()
    assert host.hostname == client.hello["host"] and host.keepalived.running
    assert sources.actions.refusal() is None
    assert sources.actions.return_weights() == {}
    client.status, client.reason = "down", "Connection refused"
    assert sources.actions.refusal() == "root@10.0.5.90 is not connected (Connection refused)"


def test_an_agent_without_ipvs_is_a_one_line_error() -> None:
    client = connected_client()
    assert client.state is not None
    client.state["ipvs"]["error"] = "no IPVS in this kernel: modprobe ip_vs"
    link = AgentLink(client)
    link._task = asyncio.Future  # type: ignore[assignment]
    from lvstop.tui.remote import AgentIpvs

    with pytest.raises(LvstopError, match=r"root@10\.0\.5\.90: no IPVS in this kernel"):
        asyncio.run(AgentIpvs(link).snapshot())


def test_verdicts_read_as_the_state_column_says_them() -> None:
    view = keepalived_view(
        {
            "running": True,
            "no_signals": None,
            "dumped_at": 1_790_000_000.5,
            "pending": True,
            "asked": "asked with the key",
            "problems": ["keepalived's dumps: one"],
            "verdicts": {
                "tcp:10.0.5.96:8888->10.0.5.91:8888": ["ok", "up, weight 1", None],
                "tcp:10.0.5.96:8888->10.0.5.92:8888": [
                    "removed",
                    "TCP_CHECK failed",
                    "keepalived manages it (weight 1, keepalived.conf:30)",
                ],
            },
        }
    )
    assert view.states == {
        "tcp:10.0.5.96:8888->10.0.5.91:8888": "up",
        "tcp:10.0.5.96:8888->10.0.5.92:8888": "removed",
    }
    assert view.details["tcp:10.0.5.96:8888->10.0.5.92:8888"] == "TCP_CHECK failed"
    assert list(view.warnings) == ["tcp:10.0.5.96:8888->10.0.5.92:8888"]
    assert view.running and view.pending and view.dumped_at == 1_790_000_000.5
    assert view.asked == "asked with the key" and view.problems == ("keepalived's dumps: one",)


@pytest.mark.parametrize(
    "result", [{"verdicts": []}, {"verdicts": {"k": ["ok", "x"]}}, {"verdicts": {"k": "ok"}}]
)
def test_malformed_verdicts_are_refused(result: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="keepalived: "):
        keepalived_view(result)


def test_connection_entries_v4_and_v6() -> None:
    v4 = conn_entry(
        {
            "protocol": "tcp",
            "client": "10.0.5.100:40522",
            "virtual": "10.0.5.96:8888",
            "real": "10.0.5.91:8888",
            "state": "ESTABLISHED",
            "expires": 897,
        }
    )
    assert v4 == ConnEntry(
        "tcp", "10.0.5.100", 40522, "10.0.5.96", 8888, "10.0.5.91", 8888, "ESTABLISHED", 897
    )
    v6 = conn_entry(
        {
            "protocol": "udp",
            "client": "[2001:db8::64]:5353",
            "virtual": "[2001:db8::1]:53",
            "real": "[2001:db8::5]:53",
            "state": "UDP",
            "expires": 10,
        }
    )
    assert (v6.client_endpoint, v6.virtual_endpoint, v6.real_endpoint) == (
        "[2001:db8::64]:5353",
        "[2001:db8::1]:53",
        "[2001:db8::5]:53",
    )
    with pytest.raises(ValueError, match="bad endpoint"):
        conn_entry(
            {
                **{"protocol": "tcp", "state": "X", "expires": 1},
                "client": "nonsense",
                "virtual": "1.2.3.4:1",
                "real": "1.2.3.4:1",
            }
        )


class FakeClient:
    name = "root@10.0.5.90"
    status = "live"
    reason = ""

    def __init__(self) -> None:
        self.loops: list[int] = []
        self.state: dict[str, Any] = {"ipvs": {}}
        self.hello: dict[str, Any] = {"capabilities": ["verdicts"]}

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def request(self, op: str, within: float = 60.0, **args: Any) -> dict[str, Any]:
        self.loops.append(threading.get_ident())
        return {"op": op, **args}

    async def close(self) -> None:
        return None


def test_a_request_from_a_thread_runs_on_the_connection_loop() -> None:
    client = FakeClient()
    link = AgentLink(client)  # type: ignore[arg-type]

    async def main() -> dict[str, Any]:
        await link.live()
        answer = await asyncio.to_thread(link.ask_from_thread, "conns", limit=5)
        await link.close()
        return answer

    assert asyncio.run(main()) == {"op": "conns", "limit": 5}
    assert client.loops == [threading.get_ident()]  # asyncio.run's loop is this thread's


def test_a_request_from_a_thread_before_the_connection_is_one_line() -> None:
    link = AgentLink(FakeClient())  # type: ignore[arg-type]
    with pytest.raises(OSError, match="not connected yet"):
        link.ask_from_thread("conns")


def test_the_vrrp_panel_from_the_agents_tracker() -> None:
    """The ``vrrp`` request's snapshot (as the lab's tracker wrote one) is the panel's; an
    agent that captures nothing says so in one line, never asked."""
    from lvstop.tui.replay import load_vrrp_frames

    recorded = load_vrrp_frames(
        Path(__file__).resolve().parents[1] / "data" / "ui" / "steady.vrrp.jsonl"
    )[-1]
    client = connected_client()
    asked: list[str] = []
    sent: list[dict[str, Any]] = []

    async def request(op: str, within: float = 60.0, **args: Any) -> dict[str, Any]:
        asked.append(op)
        sent.append(args)
        return {"type": "result", "ok": True, "snapshot": recorded.to_dict()}

    client.request = request  # type: ignore[method-assign]
    sources = agent_sources(client)
    assert sources.vrrp is not None and sources.conns is not None
    link: Any = sources.ipvs.link  # type: ignore[attr-defined]
    link._task = asyncio.Future
    snap = asyncio.run(sources.vrrp.snapshot())
    assert snap == recorded and asked == ["vrrp"]
    asyncio.run(sources.vrrp.snapshot())  # the next asks only for events after those seen
    assert recorded.events and sent == [{}, {"events_after": recorded.events[-1].time}]
    asked.clear()
    client.hello = {**client.hello, "capabilities": ["ipvs", "conns"]}
    with pytest.raises(LvstopError, match=r"root@10\.0\.5\.90: its agent captures no VRRP"):
        asyncio.run(sources.vrrp.snapshot())
    assert asked == []
    assert agent_sources(client, vrrp=False).vrrp is None
