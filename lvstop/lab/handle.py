"""``LabHandle``: what a lab test (inside the VM) uses to drive the running cluster."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from lvstop.lab import faults, runtime
from lvstop.lab.topology import ROGUE_NODE, Topology, default_topology

_T = TypeVar("_T")

HEAL_TIMEOUT = 30.0
_scratch_ids = itertools.count(1)


class LabCommandError(subprocess.CalledProcessError):
    """A ``lab.run(..., check=True)`` command failed; str() names node, command and stderr."""

    def __init__(self, node: str, proc: subprocess.CompletedProcess[str]) -> None:
        super().__init__(proc.returncode, proc.args, proc.stdout, proc.stderr)
        self.node = node

    def __str__(self) -> str:
        detail = (self.stderr or self.stdout or "").strip().splitlines()
        cmd = " ".join(self.cmd[4:]) if isinstance(self.cmd, list) else str(self.cmd)
        tail = f": {detail[-1]}" if detail else ""
        return f"`{cmd}` on {self.node} exited with {self.returncode}{tail}"


class LabHandle:
    """The running lab, from inside the VM (see ``tests/lab/conftest.py``'s ``lab`` fixture)."""

    def __init__(self, topology: Topology | None = None) -> None:
        runtime.require_lab()
        self.topology = topology or default_topology()

    # --- commands and namespaces --------------------------------------------------------------

    def run(
        self, node: str, argv: Sequence[str], check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in ``node``'s netns; text output captured."""
        if isinstance(argv, str):
            raise TypeError("lab.run takes an argv list, not a string")
        proc = subprocess.run(
            runtime.ns_argv(node, argv),
            capture_output=True,
            text=True,
            timeout=self.scaled(timeout),
            check=False,
        )
        if check and proc.returncode != 0:
            raise LabCommandError(node, proc)
        return proc

    def netns(self, node: str) -> AbstractContextManager[None]:
        """``with lab.netns("d1"):`` the current thread lives in d1's netns (sockets too)."""
        return runtime.netns(node)

    @contextmanager
    def scratch_netns(self) -> Iterator[str]:
        """A fresh empty netns (lo up) for IPVS tables of a test's own; deleted afterwards."""
        name = f"scratch-{os.getpid()}-{next(_scratch_ids)}"
        runtime.sh(["ip", "netns", "add", name], what=f"create netns {name}")
        try:
            runtime.sh(["ip", "-n", name, "link", "set", "lo", "up"], what=f"{name} lo up")
            yield name
        finally:
            runtime.remove_node(name)

    # --- faults and waiting -------------------------------------------------------------------

    def fault(self, name: str, **params: Any) -> str:
        """Inject a fault from ``lvstop.lab.faults.FAULTS``; returns its one-line result."""
        return faults.apply(name, self.topology, **params)

    @staticmethod
    def load_factor() -> float:
        """How many times slower than on an idle host the lab runs now (>= 1)."""
        return runtime.load_factor()

    def scaled(self, seconds: float) -> float:
        """``seconds`` on an idle host, as a deadline on this host now (see ``load_factor``)."""
        return seconds * self.load_factor()

    def wait_until(
        self,
        predicate: Callable[[], _T | None],
        timeout: float = 10.0,
        what: str = "condition",
        interval: float = 0.1,
    ) -> _T:
        """Poll ``predicate`` until it returns something truthy (returned); AssertionError
        naming ``what`` after ``timeout`` seconds on an idle host, multiplied by the highest
        load factor seen while waiting (a busy host slows the VM). Exceptions from the
        predicate count as not yet and the last one is quoted."""
        started = time.monotonic()
        factor = self.load_factor()
        checked = started
        last_error: BaseException | None = None
        while True:
            polled = time.monotonic()
            try:
                value = predicate()
                if value:
                    return value
                last_error = None
            except Exception as exc:
                last_error = exc
            now = time.monotonic()
            if now - checked >= 1.0:
                factor, checked = max(factor, self.load_factor()), now
            if now - started >= timeout * factor:
                extra = f" (last error: {last_error!r})" if last_error else ""
                scale = f" ({timeout:g}s x host load factor {factor:.1f})" if factor > 1 else ""
                raise AssertionError(
                    f"timed out after {now - started:.0f}s{scale} waiting for {what}{extra}"
                )
            # a predicate that costs more than ``interval`` (a process in the VM) runs at most
            # half the time: the VM's CPU is what the test waits on
            time.sleep(max(interval, now - polled))

    # --- state --------------------------------------------------------------------------------

    def addresses(self, node: str, interface: str | None = "eth0") -> set[str]:
        """IPv4 addresses in ``node`` (on ``interface``; None: all interfaces)."""
        return runtime.addresses(node, interface)

    def ipvs(self, node: str) -> dict[str, list[str]]:
        """``{"TCP 10.0.5.96:8888": ["10.0.5.91:8888", ...]}`` from /proc/net/ip_vs."""
        return runtime.ipvs_table(node)

    def problems(self) -> list[str]:
        """Differences from the healthy default (empty when healthy)."""
        from lvstop.lab.inside import lab_problems

        return lab_problems(self.topology)

    def node_dir(self, node: str) -> str:
        """/run/lvstop-lab/<node>: pid files, keepalived.conf/.log/.data/.json/.stats."""
        return str(runtime.node_dir(node))

    def reset(self) -> list[str]:
        """Back to the healthy default, undoing only what changed; returns what was done."""
        from lvstop.lab.inside import wait_healthy

        done = faults.undo_all(self.topology)
        nodes = [n.name for n in self.topology.nodes] + [ROGUE_NODE.name]
        strays = runtime.kill_stray_keepalived(nodes)
        if strays:
            done.append(f"stopped stray keepalived pids {', '.join(map(str, strays))}")
        problems = self.problems()
        if not problems:
            return done
        # Something changed outside the fault registry: restart what is not running.
        for director in self.topology.directors:
            if runtime.keepalived_main_pid(director.name) is None:
                done.append(faults.apply("keepalived-start", self.topology, node=director.name))
        for rs in self.topology.real_servers:
            lo = runtime.addresses(rs.name, "lo")
            for vip in self.topology.vips:
                if vip not in lo:
                    runtime.sh(
                        ["ip", "-n", rs.name, "addr", "add", f"{vip}/32", "dev", "lo"],
                        what=f"VIP {vip} on {rs.name} lo",
                    )
                    done.append(f"{vip} put back on {rs.name} lo")
            if runtime.httpd_running(rs.name) is None:
                done.append(faults.apply("rs-start", self.topology, node=rs.name))
        try:
            wait_healthy(self.topology, HEAL_TIMEOUT)
            return done
        except runtime.LabError:
            pass
        # Last resort: restart keepalived on every director from a clean slate.
        for director in self.topology.directors:
            runtime.stop_keepalived(director.name)
            done.append(faults.apply("keepalived-start", self.topology, node=director.name))
        try:
            wait_healthy(self.topology, HEAL_TIMEOUT)
        except runtime.LabError as exc:
            raise AssertionError(f"lab reset failed: {exc}") from None
        return done
