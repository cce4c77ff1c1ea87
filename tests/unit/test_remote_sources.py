"""The dashboard's sources over an agent (``lvstop top --via``), fed d1's state as the fleet
client held it in the lab (``tests/data/fleet/d1.json``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from lvstop.errors import LvstopError
from lvstop.fleet.client import AgentClient, ConnectOptions, parse_target
from lvstop.fleet.model import LIVE
from lvstop.tui.remote import AgentLink, agent_sources

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
