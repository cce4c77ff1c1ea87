"""Boot the lab: a User-Mode Linux kernel (``linux.uml``) with the host's root as hostfs.

The host writes a run folder under ``<repo>/.lab/`` (a fresh ``mkdtemp`` per boot, since
several VMs may run at once): ``init.sh`` (the VM's init), ``payload.json`` (what to run once
the cluster is up). Inside, ``lvstop.lab.inside`` builds the topology, waits until it is healthy
and runs the payload; it writes ``status`` (the payload's exit status: the VM's own does not
come back), ``progress`` (one line per boot step) and the payload's output files there.
The VM is always run under ``timeout`` and ends with ``poweroff -f``. Nothing is ever attached
to the host's network (no ``ethN=`` option).

The VM mounts private tmpfs on /tmp and /run (its netns files, keepalived's runtime files): a
host path the VM needs below them (a clone under /tmp, its venv, the run folder) is mounted
again from the host (hostfs) at the same path, so the lab works from any clone location; only
/tmp or /run themselves and the VM's own private folders are refused, before anything starts.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lvstop.errors import LvstopError

#: Kernel modules loaded at boot: IPVS with every scheduler, the lab's plumbing (veth, bridge),
#: traffic control for the faults (netem, ingress + u32 + gact drop), nf_tables/iptables bits.
MODULES: tuple[str, ...] = (
    "ip_vs",
    *(
        f"ip_vs_{s}"
        for s in (
            "rr",
            "wrr",
            "lc",
            "wlc",
            "fo",
            "ovf",
            "lblc",
            "lblcr",
            "dh",
            "sh",
            "mh",
            "sed",
            "nq",
        )
    ),
    "veth",
    "bridge",
    "sch_netem",
    "sch_ingress",
    "sch_prio",
    "cls_u32",
    "cls_matchall",
    "act_gact",
    "nf_tables",
    "nft_compat",
    "x_tables",
    "ip_tables",
    "iptable_filter",
)

#: host program -> the Debian package that provides it.
REQUIRED_PROGRAMS: tuple[tuple[str, str], ...] = (
    ("linux.uml", "user-mode-linux"),
    ("keepalived", "keepalived"),
    ("ipvsadm", "ipvsadm"),
    ("modprobe", "kmod"),
    ("ip", "iproute2"),
    ("tc", "iproute2"),
    ("timeout", "coreutils"),
)

UML_MODULES_DIR = Path("/usr/lib/uml/modules")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_MEM = "1G"


def _which(program: str) -> str | None:
    return shutil.which(program, path=os.environ.get("PATH", "") + ":" + SYSTEM_PATH)


def missing_programs() -> list[tuple[str, str]]:
    """(program, debian package) for every program the lab needs that this host lacks."""
    missing = [(prog, pkg) for prog, pkg in REQUIRED_PROGRAMS if _which(prog) is None]
    if not missing and not UML_MODULES_DIR.is_dir():
        missing.append((str(UML_MODULES_DIR), "user-mode-linux"))
    return missing


def check_host() -> str:
    """Raise a one-line error naming the Debian packages to install; return linux.uml's path."""
    missing = missing_programs()
    if missing:
        progs = ", ".join(prog for prog, _ in missing)
        pkgs = " ".join(dict.fromkeys(pkg for _, pkg in missing))
        raise LvstopError(f"the lab needs {progs}: install it with `apt-get install -y {pkgs}`")
    uml = _which("linux.uml")
    assert uml is not None
    return uml


def repo_root() -> Path:
    """The checkout lvstop runs from (its ``.lab/`` holds run folders); else the cwd."""
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file() and (here / "lvstop").is_dir():
        return here
    return Path.cwd()


#: Where the VM's init mounts a private tmpfs (see ``init_script``).
VM_TMPFS: tuple[str, ...] = ("/tmp", "/run")
#: The VM's own folders inside them (kernel modules, netns files, the lab's runtime files):
#: a host path the lab needs may not be one of them, inside one, or hold one.
VM_PRIVATE: tuple[str, ...] = ("/tmp/mr", "/run/netns", "/run/lvstop-lab")


def _below(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def host_mounts(paths: Sequence[Path]) -> list[str]:
    """The host paths among ``paths`` the VM's tmpfs would hide, to mount again from the host
    at the same path (outermost only). Raise a one-line LvstopError for a path the lab
    cannot re-expose."""
    wanted: list[str] = []
    for given in paths:
        path = os.path.realpath(given)
        if not any(_below(path, top) for top in VM_TMPFS):
            continue
        if path in VM_TMPFS:
            raise LvstopError(
                f"the lab cannot use {path} itself (the VM mounts its own tmpfs "
                f"there): use a folder below it or elsewhere ({given})"
            )
        for private in VM_PRIVATE:
            if _below(path, private) or _below(private, path):
                raise LvstopError(
                    f"the lab cannot use {path}: the VM keeps its own {private} "
                    f"there; use another folder ({given})"
                )
        wanted.append(path)
    outermost: list[str] = []
    for path in sorted(set(wanted), key=len):
        if not any(_below(path, kept) for kept in outermost):
            outermost.append(path)
    return outermost


def vm_paths(run_dir: Path) -> list[Path]:
    """Host paths the VM reads or writes: the checkout, the run folder, the venv and the
    interpreter behind it."""
    return [
        repo_root(),
        run_dir,
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(os.path.realpath(sys.executable)).parent,
    ]


def check_location() -> None:
    """Refuse, in one line, a checkout / venv / lab folder the VM cannot see (before any boot)."""
    host_mounts([*vm_paths(lab_dir())])


def lab_dir() -> Path:
    """Where run folders go: ``$LVSTOP_LAB_DIR`` or ``<repo>/.lab`` (below /tmp too: the VM
    mounts it again over its own tmpfs, see ``host_mounts``)."""
    path = Path(os.environ.get("LVSTOP_LAB_DIR") or repo_root() / ".lab").resolve()
    host_mounts([path])
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LvstopError(f"cannot create lab folder {path}: {exc.strerror}") from None
    return path


def make_run_dir(prefix: str = "run-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=lab_dir()))


@dataclass(frozen=True)
class Payload:
    """What ``lvstop.lab.inside`` runs once the cluster is healthy.

    mode: ``pytest`` (argv are pytest arguments), ``command`` (argv run in ``node``'s netns,
    output to files in the run folder), ``console`` (argv run in ``node``'s netns on the VM
    console, i.e. the user's terminal).
    """

    mode: str
    argv: tuple[str, ...]
    node: str = "d1"
    env: tuple[tuple[str, str], ...] = ()
    #: skip the health wait (e.g. to debug a lab that does not come up)
    wait_healthy: bool = True

    def to_json(self) -> str:
        return json.dumps(
            {
                "mode": self.mode,
                "argv": list(self.argv),
                "node": self.node,
                "env": dict(self.env),
                "wait_healthy": self.wait_healthy,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Payload:
        data = json.loads(text)
        return cls(
            data["mode"],
            tuple(data["argv"]),
            data.get("node", "d1"),
            tuple(sorted(data.get("env", {}).items())),
            bool(data.get("wait_healthy", True)),
        )


def init_script(run_dir: Path, env: Mapping[str, str], shared: Sequence[Path] = ()) -> str:
    """The VM's init: mount the basics, load modules, hand over to ``lvstop.lab.inside``.

    ``shared``: more host folders the VM uses (the pytest plugin's claim folder, which two
    VMs share)."""
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    q_run = shlex.quote(str(run_dir))
    q_python = shlex.quote(sys.executable)
    q_repo = shlex.quote(str(repo_root()))
    modules = " ".join(MODULES)
    remounts = "".join(
        f"mkdir -p {shlex.quote(path)} && mount -t hostfs none {shlex.quote(path)} -o "
        f"{shlex.quote(path)} || echo 'lvstop lab: cannot mount the host folder '"
        f"{shlex.quote(path)}' inside the VM'\n"
        for path in host_mounts([*vm_paths(run_dir), *shared])
    )
    # The venv's bin first: `lvstop lab fault ...` works in a lab shell.
    path = f"{Path(sys.executable).parent}:{SYSTEM_PATH}"
    return f"""#!/bin/sh
# Generated by lvstop.lab.vm: the init of one lab VM.
export PATH={shlex.quote(path)}
export HOME=/root
{exports}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
# Host folders the tmpfs just hid (a clone under /tmp, its venv, the run folder): back again.
{remounts}mkdir -p /run/netns /dev/pts
mountpoint -q /dev || mount -t devtmpfs dev /dev
mountpoint -q /dev/pts || mount -t devpts -o gid=5,mode=620 devpts /dev/pts 2>/dev/null
mkdir -p /tmp/mr/lib/modules
ln -s /usr/lib/uml/modules/$(uname -r) /tmp/mr/lib/modules/$(uname -r)
echo "modules" >> {q_run}/progress
for m in {modules}; do
    modprobe -d /tmp/mr "$m" 2>>{q_run}/modprobe.err \
        || echo "modprobe $m failed" >> {q_run}/modprobe.err
done
ip link set lo up
cd {q_repo}
{q_python} -m lvstop.lab.inside {q_run}
rc=$?
[ -f {q_run}/status ] || echo "$rc" > {q_run}/status
sync
poweroff -f
"""


def prepare(
    payload: Payload,
    env: Mapping[str, str] | None = None,
    run_dir: Path | None = None,
    shared: Sequence[Path] = (),
) -> Path:
    """Create a run folder with init.sh and payload.json; return it."""
    if run_dir is None:
        check_location()
        run_dir = make_run_dir()
    full_env = {
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "LVSTOP_IN_LAB": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    full_env["TERM"] = os.environ.get("TERM") or "xterm-256color"
    if os.environ.get("COLORTERM"):
        full_env["COLORTERM"] = os.environ["COLORTERM"]
    full_env.update(env or {})
    init = run_dir / "init.sh"
    init.write_text(init_script(run_dir, full_env, shared))
    init.chmod(0o755)
    (run_dir / "payload.json").write_text(payload.to_json())
    return run_dir


def uml_argv(
    uml: str, run_dir: Path, timeout: float, *, interactive: bool, mem: str = DEFAULT_MEM
) -> list[str]:
    argv = ["timeout"]
    if interactive:
        # Let linux.uml read the terminal (timeout otherwise starts it in its own group).
        argv.append("--foreground")
    argv += [
        "-k",
        "10",
        f"{int(timeout)}s",
        uml,
        f"mem={mem}",
        "root=/dev/root",
        "rootfstype=hostfs",
        "rootflags=/",
        "rw",
        f"init={run_dir / 'init.sh'}",
        "con=null",
        "con0=fd:0,fd:1",
        "quiet",
    ]
    if interactive:
        # Only emergencies on the user's terminal (UML's boot chatter would cover the screen).
        argv.append("loglevel=1")
    return argv


@dataclass(frozen=True)
class VmResult:
    run_dir: Path
    #: the payload's exit status, None when the VM died before writing it
    status: int | None
    timed_out: bool
    vm_returncode: int

    def progress(self) -> list[str]:
        return read_lines(self.run_dir / "progress")

    def failure(self) -> str | None:
        """One line saying why the lab did not run the payload, or None."""
        failed = read_lines(self.run_dir / "failed")
        if failed:
            return failed[0]
        if self.timed_out:
            steps = self.progress()
            last = steps[-1] if steps else "boot"
            return f"the lab VM timed out (last step: {last})"
        if self.status is None:
            steps = self.progress()
            last = steps[-1] if steps else "boot"
            tail = console_tail(self.run_dir)
            return f"the lab VM died without an exit status (last step: {last}){tail}"
        return None


def read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return []


def console_tail(run_dir: Path, lines: int = 3) -> str:
    text = read_lines(run_dir / "console.log")
    return (": " + " | ".join(text[-lines:])) if text else ""


def read_status(run_dir: Path) -> int | None:
    try:
        return int((run_dir / "status").read_text().strip())
    except (OSError, ValueError):
        return None


#: In the run folder: the host's load while the VM runs, "LOAD CPUS" (the VM cannot see the
#: host's /proc; its own load says nothing about the host's other processes).
HOST_LOAD_FILE = "host-load"
#: Seconds of samples of the host's runnable tasks averaged (the 1-minute load lags behind).
LOAD_WINDOW = 10


def host_load(samples: list[int]) -> float:
    """The host's load now: its 1-minute load average, or the mean number of runnable tasks
    over the last samples (this process's sampling thread not counted) when higher."""
    load1 = os.getloadavg()[0]
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return load1
    samples.append(max(0, running - 1))
    del samples[:-LOAD_WINDOW]
    return max(load1, sum(samples) / len(samples))


def report_host_load(run_dir: Path, proc: subprocess.Popen[bytes]) -> threading.Thread:
    """While the VM runs, write the host's load to ``run_dir/host-load`` every second: lab
    tests scale their deadlines with it (``lvstop.lab.runtime.load_factor``)."""
    path = run_dir / HOST_LOAD_FILE

    def loop() -> None:
        samples: list[int] = []
        cpus = len(os.sched_getaffinity(0)) or 1
        while proc.poll() is None:
            try:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(f"{host_load(samples):.2f} {cpus}\n")
                os.replace(tmp, path)
            except OSError:
                return  # the run folder is gone: the VM is being cleaned up
            time.sleep(1.0)

    thread = threading.Thread(target=loop, name="lab-host-load", daemon=True)
    thread.start()
    return thread


def start(
    run_dir: Path, timeout: float, *, interactive: bool = False, mem: str = DEFAULT_MEM
) -> subprocess.Popen[bytes]:
    """Start the VM; non-interactive VMs write their console to ``console.log``."""
    uml = check_host()
    argv = uml_argv(uml, run_dir, timeout, interactive=interactive, mem=mem)
    if interactive:
        proc = subprocess.Popen(argv)
    else:
        console = (run_dir / "console.log").open("wb")
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            console.close()
    report_host_load(run_dir, proc)
    return proc


def result(run_dir: Path, returncode: int) -> VmResult:
    # timeout(1) exits 124 when it had to stop the command (137 after -k's SIGKILL).
    return VmResult(run_dir, read_status(run_dir), returncode in (124, 137), returncode)


def run(
    payload: Payload,
    *,
    timeout: float,
    interactive: bool = False,
    env: Mapping[str, str] | None = None,
) -> VmResult:
    """Boot, run the payload, wait for the VM to power off."""
    run_dir = prepare(payload, env)
    proc = start(run_dir, timeout, interactive=interactive)
    return result(run_dir, proc.wait())


def boot_timeout_default(kind: str) -> float:
    """Seconds before a VM is killed: ``$LVSTOP_LAB_TIMEOUT`` overrides."""
    value = os.environ.get("LVSTOP_LAB_TIMEOUT")
    if value:
        try:
            return float(value)
        except ValueError:
            raise LvstopError(f"LVSTOP_LAB_TIMEOUT={value!r} is not a number of seconds") from None
    # A backstop: each lab test has its own (load-scaled) deadline; a busy host is slow.
    return {"pytest": 3600.0, "command": 600.0}.get(kind, 86400.0)
