"""AgentClient on this host, without a network: the real agent as ``local``; an "ssh" that
runs the remote command with ``sh -c`` here (the bootstrap, the push, the cache); an ssh that
refuses; one that hangs. Each waits on the client's state, with deadlines for a loaded host."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lvstop.fleet.client import AgentClient, ConnectOptions, FleetError, Target, parse_target
from lvstop.fleet.model import CONNECTING, DOWN

DEADLINE = 120.0


async def until(cond: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not cond():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def fake_ssh(tmp: Path, body: str) -> str:
    path = tmp / "ssh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def with_client(client: AgentClient, body: Callable[[AgentClient], Any]) -> Any:
    task = asyncio.create_task(client.run())
    try:
        return await body(client)
    finally:
        await client.close()
        task.cancel()


def test_local_agent_goes_live_and_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LVSTOP_STATE_FILE", str(tmp_path / "drained.json"))
    monkeypatch.setenv("LVSTOP_AUDIT_LOG", str(tmp_path / "audit.log"))
    client = AgentClient(parse_target("local"), ConnectOptions(interval=0.2, vrrp=False))

    async def body(c: AgentClient) -> None:
        await until(lambda: c.view().live, "live")
        view = c.view()
        assert view.host == os.uname().nodename and view.ipvs_error  # no IPVS here
        assert (await c.request("ping"))["pong"] is True
        with pytest.raises(FleetError, match="local: "):
            await c.request("drain", rs="tcp:10.0.5.96:8888->10.0.5.91:8888")

    asyncio.run(with_client(client, body))
    assert not (tmp_path / "drained.json").exists()


def test_push_over_a_shell_caches_the_agent(tmp_path: Path) -> None:
    """The remote side as ssh would run it (its command line to ``sh -c``), HOME elsewhere."""
    home = tmp_path / "home"
    home.mkdir()
    ssh = fake_ssh(tmp_path, f'for last; do :; done\nHOME={home} exec sh -c "$last"\n')
    options = ConnectOptions(interval=0.2, vrrp=False, agent="push", ssh=ssh)

    async def body(c: AgentClient) -> tuple[int, str]:
        await until(lambda: c.view().live, f"live ({c.view().reason})")
        return c.bytes_in, c.hello["schema"]

    for _ in range(2):  # the first run sends the file, the second finds it cached
        client = AgentClient(Target("root@d1", "root@d1"), options)
        _, schema = asyncio.run(with_client(client, body))
        assert schema == "lvstop.agent/1"
    cached = list((home / ".cache" / "lvstop").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("agent-")


def test_a_refusing_ssh_is_down_with_its_reason_and_retried(tmp_path: Path) -> None:
    ssh = fake_ssh(
        tmp_path, 'echo "ssh: connect to host d1 port 22: Connection refused" >&2\nexit 255\n'
    )
    client = AgentClient(Target("root@d1", "root@d1"), ConnectOptions(ssh=ssh))

    async def body(c: AgentClient) -> None:
        await until(lambda: c.view().status == DOWN, "down")
        assert c.view().reason == "ssh: connect to host d1 port 22: Connection refused"
        assert c.view().retry_in is not None
        c.reconnect_now()
        await until(lambda: c.attempts >= 2, "a second attempt")

    asyncio.run(with_client(client, body))


def test_sudo_refusal_and_old_python_are_reasons(tmp_path: Path) -> None:
    ssh = fake_ssh(tmp_path, 'echo "sudo: a password is required" >&2\nexit 1\n')
    client = AgentClient(Target("admin@d1", "admin@d1"), ConnectOptions(ssh=ssh, sudo=True))

    async def body(c: AgentClient) -> str:
        await until(lambda: c.view().status == DOWN, "down")
        return c.view().reason

    assert asyncio.run(with_client(client, body)) == "sudo refused: a password is required"
    old = fake_ssh(
        tmp_path,
        'echo \'{"type": "error", "id": null, "error": "python3 here is '
        "3.6: the agent needs 3.10 or newer\"}'\nexit 3\n",
    )
    client = AgentClient(Target("root@old", "root@old"), ConnectOptions(ssh=old))
    assert "3.6: the agent needs 3.10" in asyncio.run(with_client(client, body))


def test_a_hanging_director_stays_connecting_and_closes(tmp_path: Path) -> None:
    ssh = fake_ssh(tmp_path, "exec sleep 600\n")
    hung = AgentClient(Target("root@h", "root@h"), ConnectOptions(ssh=ssh))
    live = AgentClient(parse_target("local"), ConnectOptions(interval=0.2, vrrp=False))

    async def both() -> None:
        tasks = [asyncio.create_task(c.run()) for c in (hung, live)]
        try:
            await until(lambda: live.view().live, "the other director live")
            assert hung.view().status == CONNECTING
            with pytest.raises(FleetError, match="not connected"):
                await hung.request("ping")
        finally:
            for c in (hung, live):
                await c.close()
            for t in tasks:
                t.cancel()

    asyncio.run(both())


def test_an_installed_lvstop_is_used_when_asked(tmp_path: Path) -> None:
    """--agent installed: the director's own `lvstop agent` when `lvstop` is on its PATH;
    nothing is pushed or cached."""
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lvstop").write_text(f'#!/bin/sh\nexec {sys.executable} -m lvstop "$@"\n')
    (bin_dir / "lvstop").chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    ssh = fake_ssh(
        tmp_path,
        f'for last; do :; done\nHOME={home} PATH={bin_dir}:/usr/bin:/bin exec sh -c "$last"\n',
    )
    client = AgentClient(
        Target("root@d1", "root@d1"),
        ConnectOptions(interval=0.2, vrrp=False, agent="installed", ssh=ssh),
    )

    async def body(c: AgentClient) -> dict[str, Any]:
        await until(lambda: c.view().live, f"live ({c.view().reason})")
        return c.hello

    hello = asyncio.run(with_client(client, body))
    assert hello["schema"] == "lvstop.agent/1"
    assert not (home / ".cache").exists()
