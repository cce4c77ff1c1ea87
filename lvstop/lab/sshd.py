"""OpenSSH's sshd on lab directors, for ``lvstop --host`` (Debian's openssh-server).

Inside the VM only. Everything lives under /run/lvstop-lab/ssh/ (the VM's tmpfs): host keys
and a client key made for the lab, each director's ``sshd_config`` (its own port 22 in its
netns, root by that key only, ``HOME`` and lvstop's audit log / drained-weights file pointed
into its node folder so nothing lands in the host's /root or /var through hostfs), and the
client's ``ssh_config`` (that key, a known_hosts of its own) for ``ssh -F``.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from lvstop.lab import runtime
from lvstop.lab.topology import Topology

SSH_DIR = runtime.RUN_ROOT / "ssh"
SSHD = "/usr/sbin/sshd"
#: the lab users' authorized keys and homes: outside RUN_ROOT (which they may not be allowed
#: to enter), readable by them (sshd reads a user's keys as that user)
USERS_DIR = Path("/run/lvstop-lab-users")
#: the account files the lab's users are added to: copies bind-mounted over /etc inside the
#: VM only (its root is the host's through hostfs: the host's files are never written)
ACCOUNT_FILES = ("passwd", "group", "shadow")


class SshdMissing(runtime.LabError):
    pass


def client_config() -> Path:
    return SSH_DIR / "ssh_config"


def node_home(node: str) -> Path:
    return runtime.node_dir(node) / "home"


def audit_log(node: str) -> Path:
    return runtime.node_dir(node) / "audit.log"


def state_file(node: str) -> Path:
    return runtime.node_dir(node) / "drained.json"


def _keys() -> None:
    SSH_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, kind in (("host_ed25519", "ed25519"), ("client_ed25519", "ed25519")):
        if not (SSH_DIR / name).exists():
            runtime.sh(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    kind,
                    "-N",
                    "",
                    "-C",
                    f"lvstop-lab-{name}",
                    "-f",
                    str(SSH_DIR / name),
                ],
                what=f"ssh-keygen {name}",
            )
    auth = SSH_DIR / "authorized_keys"
    auth.write_text((SSH_DIR / "client_ed25519.pub").read_text())
    auth.chmod(0o600)
    client_config().write_text(
        "Host *\n"
        f"  IdentityFile {SSH_DIR / 'client_ed25519'}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {SSH_DIR / 'known_hosts'}\n"
        "  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking accept-new\n"
        "  LogLevel ERROR\n"
    )


def pidfile(node: str) -> Path:
    return runtime.node_dir(node) / "sshd.pid"


def sshd_pid(node: str) -> int | None:
    return runtime.live_pid(pidfile(node))


def start_sshd(topo: Topology, node: str) -> int:
    """sshd in ``node``'s netns on its lab address, port 22; its pid."""
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        raise SshdMissing("sshd is not installed (Debian package openssh-server)")
    pid = sshd_pid(node)
    if pid is not None:
        return pid
    _keys()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
    home = node_home(node)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    address = next(n.address for n in topo.nodes if n.name == node)
    config = runtime.node_dir(node) / "sshd_config"
    config.write_text(
        f"ListenAddress {address}\n"
        f"HostKey {SSH_DIR / 'host_ed25519'}\n"
        f"PidFile {pidfile(node)}\n"
        # root's key, and the lab's own users' (add_user) in a folder they can read (sshd
        # takes a keyword's first line only: one line for both)
        f"AuthorizedKeysFile {SSH_DIR / 'authorized_keys'} {USERS_DIR}/%u.keys\n"
        "StrictModes no\n"  # the keys live on the VM's tmpfs, not under a home
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        # root's HOME, audit log and drained weights in its node folder; a lab user's HOME
        # is its passwd entry's (under sudo the agent's files are the defaults: read only)
        "Match User root\n"
        f"  SetEnv HOME={home} LVSTOP_AUDIT_LOG={audit_log(node)} "
        f"LVSTOP_STATE_FILE={state_file(node)}\n"
    )
    pidfile(node).unlink(missing_ok=True)
    runtime.sh(
        runtime.ns_argv(
            node, [SSHD, "-f", str(config), "-E", str(runtime.node_dir(node) / "sshd.log")]
        ),
        what=f"sshd on {node}",
    )
    runtime.wait_for(
        lambda: sshd_pid(node) is not None,
        10 * runtime.load_factor(),
        f"sshd on {node} did not start",
    )
    pid = sshd_pid(node)
    assert pid is not None
    return pid


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        if int(stat[stat.rindex(b")") + 2 :].split()[1]) == pid:
            out.append(int(entry))
    return out


def kill_sshd(node: str) -> list[int]:
    """Kill ``node``'s sshd and every session it serves (their connections drop)."""
    pid = sshd_pid(node)
    if pid is None:
        return []
    pids = [pid]
    todo = [pid]
    while todo:
        for child in _children(todo.pop()):
            pids.append(child)
            todo.append(child)
    runtime.kill_pids(pids, signal.SIGKILL, what=f"kill sshd on {node}")
    pidfile(node).unlink(missing_ok=True)
    return pids


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        return any(line.split()[4] == path for line in handle)


def add_user(name: str, uid: int, sudo_rule: str | None = None) -> Path:
    """A local user ``name`` (uid = gid ``uid``) that logs in with the lab's client key, its
    home under USERS_DIR; ``sudo_rule``: a line for /etc/sudoers.d (a lab copy bind-mounted
    there). Inside the VM only: /etc/passwd, group and shadow are the VM's copies. An sshd
    started before sees none of it (its own copy of the mounts): start it again. Returns
    the home."""
    USERS_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    USERS_DIR.chmod(0o755)
    _keys()
    accounts = runtime.RUN_ROOT / "accounts"
    accounts.mkdir(mode=0o755, exist_ok=True)
    for base in ACCOUNT_FILES:
        copy = accounts / base
        if not _mounted(f"/etc/{base}"):
            copy.write_text(Path(f"/etc/{base}").read_text())
            copy.chmod(0o640 if base == "shadow" else 0o644)
            runtime.sh(["mount", "--bind", str(copy), f"/etc/{base}"], what=f"lab /etc/{base}")
    home = USERS_DIR / f"home-{name}"
    entries = {
        "passwd": f"{name}:x:{uid}:{uid}:lvstop lab:{home}:/bin/sh\n",
        "group": f"{name}:x:{uid}:\n",
        "shadow": f"{name}:*:19000:0:99999:7:::\n",  # no password, not locked
    }
    for base, entry in entries.items():
        copy = accounts / base
        if not any(line.startswith(f"{name}:") for line in copy.read_text().splitlines()):
            with copy.open("a") as handle:
                handle.write(entry)
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, uid, uid)
    keys = USERS_DIR / f"{name}.keys"
    keys.write_text((SSH_DIR / "client_ed25519.pub").read_text())
    keys.chmod(0o644)
    sudoers = runtime.RUN_ROOT / "sudoers.d"
    sudoers.mkdir(mode=0o755, exist_ok=True)
    if not _mounted("/etc/sudoers.d"):
        runtime.sh(["mount", "--bind", str(sudoers), "/etc/sudoers.d"], what="lab sudoers.d")
    rule = sudoers / f"lvstop-lab-{name}"
    if sudo_rule:
        rule.write_text(sudo_rule + "\n")
        rule.chmod(0o440)
    else:
        rule.unlink(missing_ok=True)
    return home


def remove_users() -> None:
    """The VM's own /etc again (the lab users gone with the copies)."""
    for path in ("/etc/sudoers.d", *(f"/etc/{base}" for base in ACCOUNT_FILES)):
        while _mounted(path):
            runtime.sh(["umount", path], what=f"umount {path}")
    shutil.rmtree(USERS_DIR, ignore_errors=True)
    shutil.rmtree(runtime.RUN_ROOT / "accounts", ignore_errors=True)
    shutil.rmtree(runtime.RUN_ROOT / "sudoers.d", ignore_errors=True)


def sshd_log(node: str, lines: int = 20) -> str:
    """The end of ``node``'s sshd log (why it refused a login)."""
    try:
        text = (runtime.node_dir(node) / "sshd.log").read_text(errors="replace")
    except OSError as exc:
        return f"(no sshd log: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])
