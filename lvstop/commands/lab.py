"""``lvstop lab``: a real LVS + keepalived cluster in User-Mode Linux, and its dashboard.

lvstop lab                          boot, then the dashboard on director d1 (q quits)
lvstop lab run [--node N] -- CMD    boot, run CMD in node N (default d1), print, exit status
lvstop lab shell [--node N]         boot, interactive shell in node N
lvstop lab fault NAME [KEY=VALUE]   inside the lab: inject a fault (list: lvstop lab fault)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from lvstop.errors import LvstopError
from lvstop.safetext import write_control

NAME = "lab"
HELP = (
    "boot a real LVS + keepalived cluster in User-Mode Linux and show the dashboard on it "
    "(run/shell/fault to use it otherwise)"
)

NODES = ("d1", "d2", "rs1", "rs2", "client")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n", 1)[1] if __doc__ else None
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds before the VM is stopped (default: 600 for `run`, "
        "a day otherwise; $LVSTOP_LAB_TIMEOUT)",
    )
    sub = parser.add_subparsers(dest="lab_command", metavar="ACTION")
    run_p = sub.add_parser("run", help="run a command in a lab node and exit with its status")
    run_p.add_argument("--node", default="d1", choices=NODES, help="node (default d1)")
    run_p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND...")
    shell_p = sub.add_parser("shell", help="an interactive shell in a lab node")
    shell_p.add_argument("--node", default="d1", choices=NODES, help="node (default d1)")
    fault_p = sub.add_parser("fault", help="inject a fault (only inside the lab)")
    fault_p.add_argument("fault", nargs="?", metavar="NAME", help="fault name; none: list them")
    fault_p.add_argument("params", nargs="*", metavar="KEY=VALUE")
    fault_p.add_argument("--node", help="shorthand for node=NODE")


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "lab_command", None)
    if action == "fault":
        return _fault(args)
    if action == "run":
        return _run(args)
    if action == "shell":
        return _console(
            args, [os.environ.get("SHELL_IN_LAB", "bash"), "--norc", "-i"], args.node, "shell"
        )
    return _dashboard(args)


# --- fault (inside the VM) -------------------------------------------------------------------


def _fault(args: argparse.Namespace) -> int:
    from lvstop.lab import faults

    if not args.fault:
        print("lab faults (lvstop lab fault NAME [KEY=VALUE ...]):")
        for line in faults.describe():
            print(f"  {line}")
        return 0
    params: dict[str, Any] = {}
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LvstopError(f"fault parameter {item!r}: write KEY=VALUE (e.g. node=d2)")
        params[key] = value
    if args.node:
        params["node"] = args.node
    print(faults.apply(args.fault, **params))
    return 0


# --- run (non-interactive) --------------------------------------------------------------------


def _timeout(args: argparse.Namespace, kind: str) -> float:
    from lvstop.lab import vm

    if args.timeout is not None:
        if args.timeout <= 0:
            raise LvstopError(f"--timeout {args.timeout:g}: give a positive number of seconds")
        return float(args.timeout)
    return vm.boot_timeout_default(kind)


class _Tail:
    """Copy what the VM appends to a file onto one of our streams, as it comes."""

    def __init__(self, path: Path, out: Any) -> None:
        self.path = path
        self.out = out
        self.offset = 0

    def pump(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        if chunk:
            self.offset += len(chunk)
            self.out.buffer.write(chunk)
            self.out.flush()


def _run(args: argparse.Namespace) -> int:
    from lvstop.lab import vm

    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise LvstopError("give a command: lvstop lab run [--node NODE] -- COMMAND...")
    vm.check_host()
    run_dir = vm.prepare(vm.Payload("command", tuple(argv), args.node))
    proc = vm.start(run_dir, _timeout(args, "command"))
    tails = [_Tail(run_dir / "stdout", sys.stdout), _Tail(run_dir / "stderr", sys.stderr)]
    progress = _Tail(run_dir / "progress", _ProgressLine()) if sys.stderr.isatty() else None
    try:
        while proc.poll() is None:
            for tail in tails:
                tail.pump()
            if progress is not None:
                progress.pump()
            time.sleep(0.1)
    except KeyboardInterrupt:
        _stop(proc)
        raise
    finally:
        if progress is not None:
            progress.out.clear()
    for tail in tails:
        tail.pump()
    result = vm.result(run_dir, proc.returncode)
    failure = result.failure()
    if failure:
        raise LvstopError(f"{failure} (run folder {run_dir})")
    assert result.status is not None
    _cleanup(run_dir)
    return result.status


class _ProgressLine:
    """A transient 'lvstop lab: <step>' line on stderr (a terminal), erased at the end."""

    def __init__(self) -> None:
        self.buffer = self
        self.shown = False

    def write(self, chunk: bytes) -> None:
        for line in chunk.decode(errors="replace").splitlines():
            if line.strip():
                write_control(sys.stderr, "\r\033[K")
                sys.stderr.write(f"lvstop lab: {line.strip()}")
                self.shown = True

    def flush(self) -> None:
        sys.stderr.flush()

    def clear(self) -> None:
        if self.shown:
            write_control(sys.stderr, "\r\033[K")
            sys.stderr.flush()


def _stop(proc: Any) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, OSError):
        pass
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)


def _cleanup(run_dir: Path) -> None:
    import shutil

    if not os.environ.get("LVSTOP_LAB_KEEP"):
        shutil.rmtree(run_dir, ignore_errors=True)


# --- console (dashboard, shell) --------------------------------------------------------------


def dashboard_available() -> bool:
    """True when `lvstop top` exists and takes --lab (written by the dashboard's author)."""
    try:
        from lvstop.commands import top
    except ImportError:
        return False
    parser = argparse.ArgumentParser(add_help=False)
    try:
        top.add_arguments(parser)
    except Exception:
        return False
    return "--lab" in parser._option_string_actions


FALLBACK = (
    "echo; echo 'lvstop lab: the dashboard (lvstop top --lab) is not available yet; "
    "showing the cluster and a shell instead'; echo; "
    "ipvsadm -Ln; echo; ip -4 -br addr show dev eth0; echo; "
    "echo 'faults: lvstop lab fault; leave with exit'; exec bash --norc -i"
)


def _dashboard(args: argparse.Namespace) -> int:
    if dashboard_available():
        argv = [sys.executable, "-m", "lvstop", "--lab"]
        return _console(args, argv, "d1", "dashboard")
    print(
        "lvstop lab: the dashboard is not available yet: falling back to ipvsadm -Ln, the "
        "VIPs and a shell",
        file=sys.stderr,
    )
    return _console(args, ["sh", "-c", FALLBACK], "d1", "shell")


def _share_window_size(path: Path) -> None:
    """Keep ``path`` holding our terminal's "rows cols" (the VM applies it to its console)."""
    import signal

    def write(*_: object) -> None:
        size = os.get_terminal_size(sys.stdout.fileno())
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{size.lines} {size.columns}\n")
        tmp.replace(path)

    write()
    signal.signal(signal.SIGWINCH, write)


def _console(args: argparse.Namespace, argv: list[str], node: str, what: str) -> int:
    import termios

    from lvstop.lab import vm

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise LvstopError(
            f"the lab {what} needs a terminal (use `lvstop lab run -- ...` otherwise)"
        )
    vm.check_host()
    env = {"PS1": f"[lab {node}] \\w# "}
    run_dir = vm.prepare(vm.Payload("console", tuple(argv), node), env)
    saved = termios.tcgetattr(sys.stdin.fileno())
    print(f"lvstop lab: booting User-Mode Linux (run folder {run_dir})", flush=True)
    _share_window_size(run_dir / "winsize")
    proc = vm.start(run_dir, _timeout(args, "console"), interactive=True)
    try:
        while True:
            try:
                proc.wait()
                break
            except KeyboardInterrupt:
                continue  # the key belongs to the program in the VM
    finally:
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
    result = vm.result(run_dir, proc.returncode)
    failure = result.failure()
    if failure:
        raise LvstopError(f"{failure} (run folder {run_dir})")
    assert result.status is not None
    _cleanup(run_dir)
    return result.status
