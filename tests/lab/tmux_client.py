"""tmux client commands for the lab's screen tests (the session itself starts in a node's
netns, with ``lab.run``).

A client reaches its server through the socket file whatever its network namespace, so these
run where the test runs: ``ip netns exec`` costs a mount namespace and another exec per call,
about 60 ms of the VM's CPU per screen read against 19 ms without, and a waiting test reads
the screen many times a second while the dashboard it watches needs that CPU."""

from __future__ import annotations

import subprocess

from lvstop.lab.handle import LabCommandError, LabHandle


def tmux(
    lab: LabHandle, socket: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["tmux", "-L", socket, *args],
        capture_output=True,
        text=True,
        timeout=lab.scaled(30),
        check=False,
    )
    if check and proc.returncode != 0:
        raise LabCommandError("tmux", proc)
    return proc
