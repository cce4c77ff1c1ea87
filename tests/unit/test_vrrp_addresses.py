"""Local addresses from netlink events (not polled), against the real kernel in a private
network namespace (`unshare -n`: its own loopback only, nothing leaves it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from typing import Any

import pytest

SCRIPT = textwrap.dedent("""
    import asyncio, json, subprocess, sys
    from lvstop.sources.addresses import LocalAddresses

    seen = []

    async def main():
        w = LocalAddresses(on_change=lambda a: seen.append(sorted(a)))
        await w.start()
        steps = [("ip link set lo up", {"127.0.0.1", "::1"}),
                 ("ip addr add 10.0.5.96/32 dev lo", {"10.0.5.96", "127.0.0.1", "::1"}),
                 ("ip addr add 2001:db8::96/128 dev lo nodad",
                  {"10.0.5.96", "127.0.0.1", "2001:db8::96", "::1"}),
                 ("ip addr del 10.0.5.96/32 dev lo", {"127.0.0.1", "2001:db8::96", "::1"})]
        for cmd, expected in steps:
            subprocess.run(cmd.split(), check=True)
            # wait for the event to be read (a fixed sleep let two changes share a batch,
            # or the last one arrive after the check, on a loaded machine); then the next
            for _ in range(3000):
                if seen and set(seen[-1]) == expected:
                    break
                await asyncio.sleep(0.01)
        entries = sorted((e.address, e.prefixlen, e.family) for e in w.entries())
        await w.close()
        print(json.dumps({"seen": seen, "entries": entries, "error": w.error}))

    asyncio.run(main())
""")


@pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs root and unshare for a private network namespace",
)
def test_address_events_in_private_netns() -> None:
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(proc.stdout)
    seen = result["seen"]
    assert seen[0] == []  # lo is down in a fresh namespace: nothing yet (the initial dump)
    assert ["10.0.5.96", "127.0.0.1", "::1"] in seen
    assert ["10.0.5.96", "127.0.0.1", "2001:db8::96", "::1"] in seen
    assert seen[-1] == ["127.0.0.1", "2001:db8::96", "::1"]  # the deletion arrived too
    assert result["entries"] == [
        ["127.0.0.1", 8, "inet"],
        ["2001:db8::96", 128, "inet6"],
        ["::1", 128, "inet6"],
    ]
    assert result["error"] is None


class _Msg(dict[str, Any]):
    def __init__(self, event: str, family: int, index: int, prefixlen: int, **attrs: Any) -> None:
        super().__init__(event=event, family=family, index=index, prefixlen=prefixlen)
        self.attrs = attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


def test_apply_prefers_ifa_local_and_counts_per_interface() -> None:
    from lvstop.sources.addresses import LocalAddresses

    w = LocalAddresses()
    # point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours
    assert w.apply(_Msg("RTM_NEWADDR", 2, 3, 32, IFA_LOCAL="10.0.5.90", IFA_ADDRESS="10.9.9.9"))
    assert w.addresses == {"10.0.5.90"}
    # the same address on a second interface, then removed from one: still held
    assert not w.apply(_Msg("RTM_NEWADDR", 2, 4, 32, IFA_LOCAL="10.0.5.90"))
    assert not w.apply(_Msg("RTM_DELADDR", 2, 3, 32, IFA_LOCAL="10.0.5.90"))
    assert w.addresses == {"10.0.5.90"}
    assert w.apply(_Msg("RTM_DELADDR", 2, 4, 32, IFA_LOCAL="10.0.5.90"))
    assert w.addresses == frozenset()
    assert not w.apply(_Msg("RTM_NEWADDR", 10, 1, 128))  # no address at all: ignored
