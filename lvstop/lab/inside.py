"""The lab VM's main program, started by ``init.sh``: bring the cluster up, run the payload.

``python -m lvstop.lab.inside RUN_DIR``. Each boot step prints a progress line (to the VM
console and to ``RUN_DIR/progress``); a failed step writes ``RUN_DIR/failed`` with one line
saying which step and why. The payload's exit status goes to ``RUN_DIR/status``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path

from lvstop.lab import runtime
from lvstop.lab.topology import Topology
from lvstop.lab.vm import Payload

#: exit status of a payload that never ran because the lab did not come up
SETUP_FAILED = 3
HEALTH_TIMEOUT = 60.0


class Progress:
    def __init__(self, run_dir: Path, echo: bool) -> None:
        self.run_dir = run_dir
        self.echo = echo
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        with (self.run_dir / "progress").open("a") as f:
            f.write(text + "\n")
        with (self.run_dir / "timings").open("a") as f:
            f.write(f"{time.monotonic() - self.started:.2f} {text}\n")
        if self.echo:
            print(f"lvstop lab [{time.monotonic() - self.started:5.1f}s] {text}", flush=True)


def http_reachable(node: str, address: str, port: int, timeout: float = 1.0) -> bool:
    with runtime.netns(node):
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return True
        except OSError:
            return False


def lab_problems(topo: Topology) -> list[str]:
    problems = runtime.health_problems(topo)
    for rs in topo.real_servers:
        missing = sorted(set(topo.vips) - runtime.addresses(rs.name, "lo"))
        if missing:
            problems.append(f"{rs.name} lo lacks VIPs {', '.join(missing)}")
    client = topo.by_role("client")
    if client:
        for rs in topo.real_servers:
            if not http_reachable(client[0].name, rs.address, topo.http_port):
                problems.append(f"HTTP on {rs.name} {rs.address}:{topo.http_port} not reachable")
    return problems


def wait_healthy(topo: Topology, timeout: float = HEALTH_TIMEOUT) -> None:
    """``timeout`` is for an idle host: a busy one gets it times its load factor."""
    started = time.monotonic()
    problems = lab_problems(topo)
    while problems:
        elapsed = time.monotonic() - started
        if elapsed >= timeout * runtime.load_factor():
            raise runtime.LabError(f"not healthy after {elapsed:.0f}s: {'; '.join(problems)}")
        time.sleep(0.2)
        problems = lab_problems(topo)


def bring_up(topo: Topology, progress: Progress) -> None:
    """Build the default lab. Raises LabError naming the failed step."""
    step = "network (bridge, a namespace and veth per node)"
    try:
        progress.step(step)
        runtime.RUN_ROOT.mkdir(parents=True, exist_ok=True)
        runtime.add_bridge(topo)
        for node in topo.nodes:
            runtime.add_node(topo, node)
        step = f"real servers (VIPs on lo, arp sysctls, HTTP on :{topo.http_port})"
        progress.step(step)
        for rs in topo.real_servers:
            runtime.setup_real_server(topo, rs)
            runtime.start_httpd(topo, rs.name)
        step = "keepalived on " + ", ".join(d.name for d in topo.directors)
        progress.step(step)
        from lvstop.lab.topology import keepalived_config

        for director in topo.directors:
            runtime.write_keepalived_config(director.name, keepalived_config(topo, director.name))
            runtime.start_keepalived(director.name)
        step = "waiting for VRRP masters and real servers"
        progress.step(step)
        wait_healthy(topo)
        progress.step("lab ready")
    except runtime.LabError as exc:
        raise runtime.LabError(f"lab step '{step}' failed: {exc}") from None
    except Exception as exc:  # a bug here must still name the step, not kill the VM silently
        raise runtime.LabError(f"lab step '{step}' failed: {exc!r}") from None


def _console_child() -> None:
    # Own session with the console as controlling terminal: Ctrl-C reaches the program.
    os.setsid()
    with contextlib.suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 1)


def in_node(node: str, argv: tuple[str, ...]) -> list[str]:
    """argv in ``node``'s netns with the node's name as hostname (own UTS namespace)."""
    return runtime.ns_argv(
        node,
        [
            "unshare",
            "--uts",
            "--",
            "sh",
            "-c",
            'hostname "$1" && shift && exec "$@"',
            "lvstop-lab",
            node,
            *argv,
        ],
    )


def follow_window_size(path: Path, fd: int) -> None:
    """Apply the host terminal's size (written by the host to ``path``) to the console.

    UML's console does not pass the host's SIGWINCH on; setting the size here makes the
    kernel send SIGWINCH to the program on the console, which redraws at the new size.
    """
    import struct
    import threading

    def watch() -> None:
        last = ""
        while True:
            try:
                text = path.read_text().strip()
            except OSError:
                text = ""
            if text and text != last:
                last = text
                try:
                    rows, cols = (int(v) for v in text.split())
                    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                except (ValueError, OSError):
                    pass
            time.sleep(0.3)

    threading.Thread(target=watch, name="winsize", daemon=True).start()


def run_payload(payload: Payload, run_dir: Path) -> int:
    env = dict(os.environ)
    env.update(dict(payload.env))
    if payload.mode == "pytest":
        return subprocess.run(
            [sys.executable, "-m", "pytest", *payload.argv], env=env, check=False
        ).returncode
    if payload.mode == "command":
        with (run_dir / "stdout").open("wb") as out, (run_dir / "stderr").open("wb") as err:
            try:
                return subprocess.run(
                    in_node(payload.node, payload.argv),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    check=False,
                ).returncode
            except OSError as exc:
                err.write(f"lvstop lab: {exc}\n".encode())
                return 127
    if payload.mode == "console":
        with open("/dev/console", "r+b", buffering=0) as console:
            follow_window_size(run_dir / "winsize", console.fileno())
            try:
                return subprocess.run(
                    in_node(payload.node, payload.argv),
                    env=env,
                    stdin=console,
                    stdout=console,
                    stderr=console,
                    preexec_fn=_console_child,
                    check=False,
                ).returncode
            except OSError as exc:
                console.write(f"lvstop lab: {exc}\r\n".encode())
                return 127
    print(f"lvstop lab: unknown payload mode {payload.mode!r}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    run_dir = Path(argv[0])
    payload = Payload.from_json((run_dir / "payload.json").read_text())
    os.environ["LVSTOP_LAB_RUN_DIR"] = str(run_dir)
    progress = Progress(run_dir, echo=payload.mode == "console")
    topo = runtime.default_topology()
    try:
        bring_up(topo, progress)
    except runtime.LabError as exc:
        if payload.wait_healthy:
            (run_dir / "failed").write_text(f"{exc}\n")
            print(f"lvstop lab: {exc}", flush=True)
            (run_dir / "status").write_text(f"{SETUP_FAILED}\n")
            return SETUP_FAILED
        progress.step(f"continuing anyway: {exc}")
    status = run_payload(payload, run_dir)
    (run_dir / "status").write_text(f"{status}\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
