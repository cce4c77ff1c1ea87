"""The only code that writes to the kernel: weights, drain / restore, timeouts.

Every write is: validate -> read the object's current state -> write over generic netlink ->
read it back and check the kernel now says what we asked -> append to the audit log (file and
syslog: time, user (SUDO_USER when present), object, before, after, result). A write the
kernel rejects changes nothing and raises ``ActionError`` with the kernel's reason; so does a
write against a real server or service that is gone.

Drain sets a real server's weight to 0 and remembers the weight it had in a small JSON state
file (default /var/lib/lvstop/drained.json), so ``restore`` gives it back even after lvstop was
restarted. Drains and restores hold an exclusive ``flock`` on ``drained.json.lock`` (across
processes: two ``lvstop drain`` at once each keep their weight) from reading the state to
writing it, and the file is replaced atomically, fsync'd with its directory. A refused write
(no such real server, no permission) creates no file.

Why our own netlink messages rather than pyroute2's IPVS helpers here: IPVS_CMD_SET_DEST
replaces the *whole* destination. Any attribute left out is reset: the tunnel type, port and
flags default to 0 (a GUE tunnel silently becomes IPIP), and pyroute2's dest message does not
carry them. We echo back every attribute the kernel reported, changing only the weight.
(pyroute2's verb "update" is another trap: it sends a delete.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import getpass
import ipaddress
import json
import os
import re
import stat
import struct
import syslog
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lvstop.errors import LvstopError
from lvstop.model.ipvs import (
    MAX_TIMEOUT,
    MAX_WEIGHT,
    RealServer,
    Service,
    Timeouts,
    endpoint,
    parse_real_server_key,
    parse_service_key,
)
from lvstop.sources import genl
from lvstop.sources.ipvs import (
    CMD_ATTR_DEST,
    CMD_ATTR_TIMEOUT_TCP,
    CMD_ATTR_TIMEOUT_TCP_FIN,
    CMD_ATTR_TIMEOUT_UDP,
    CMD_SET_CONFIG,
    CMD_SET_DEST,
    DEST_ATTR_ADDR,
    DEST_ATTR_ADDR_FAMILY,
    DEST_ATTR_FWD_METHOD,
    DEST_ATTR_L_THRESH,
    DEST_ATTR_PORT,
    DEST_ATTR_TUN_FLAGS,
    DEST_ATTR_TUN_PORT,
    DEST_ATTR_TUN_TYPE,
    DEST_ATTR_U_THRESH,
    DEST_ATTR_WEIGHT,
    FAMILY_NUMBERS,
    FORWARD_NUMBERS,
    PROTOCOL_NUMBERS,
    TUNNEL_TYPE_NUMBERS,
    IpvsError,
    IpvsPermissionError,
    IpvsReader,
    IpvsUnavailableError,
    svc_ident,
)

if TYPE_CHECKING:
    import argparse

#: DEL and the C1 controls, which json.dumps leaves raw
_C1 = re.compile("[\x7f-\x9f]")

DEFAULT_AUDIT_LOG = "/var/log/lvstop/audit.log"
DEFAULT_STATE_FILE = "/var/lib/lvstop/drained.json"
#: seconds to wait for another lvstop's drain or restore to finish with the state file
LOCK_WAIT = 30.0


class ActionError(LvstopError):
    """A write was refused (by us or the kernel) or could not be verified; nothing changed
    unless the message says otherwise."""


@dataclass(frozen=True, slots=True)
class Change:
    """What one write did (also what the audit log records)."""

    action: str  # "weight" | "drain" | "restore" | "timeouts"
    target: str  # the object's key, or "timeouts"
    before: str
    after: str
    message: str

    def __str__(self) -> str:
        return self.message


def current_user() -> str:
    """The person behind the write: SUDO_USER when run through sudo, else the login name."""
    sudo = os.environ.get("SUDO_USER")
    if sudo:
        return sudo
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


class AuditLog:
    """Appends one line per write (or refused write) to a file and to syslog."""

    def __init__(
        self, path: str | os.PathLike[str] | None = DEFAULT_AUDIT_LOG, use_syslog: bool = True
    ) -> None:
        self.path = None if path is None else Path(path)
        self.use_syslog = use_syslog

    def check(self) -> None:
        """Fail *before* a write when the log cannot be written: no unaudited changes."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise ActionError(
                f"cannot write the audit log {self.path}: {exc.strerror}; "
                "nothing was changed (choose another with --audit-log)"
            ) from None

    def record(self, action: str, target: str, before: str, after: str, result: str) -> str:
        # timezone.utc, not the 3.11 alias: the pushed agent runs on python 3.10 too
        stamp = dt.datetime.now(dt.timezone.utc).astimezone()  # noqa: UP017
        now = stamp.isoformat(timespec="seconds")
        entry = {
            "time": now,
            "user": current_user(),
            "uid": os.getuid(),
            "action": action,
            "object": target,
            "before": before,
            "after": after,
            "result": result,
        }
        # json.dumps escapes C0 but not DEL and C1 (U+009B is a one-character CSI): escape
        # those too, so `cat audit.log` or a syslog viewer never runs a terminal control
        line = _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(entry, ensure_ascii=False))
        if self.path is not None:
            try:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            except OSError as exc:
                raise ActionError(
                    f"{action} {target}: done, but the audit log {self.path} could not be "
                    f"written: {exc.strerror}"
                ) from None
        if self.use_syslog:
            with contextlib.suppress(OSError):
                syslog.openlog("lvstop", 0, syslog.LOG_AUTHPRIV)
                syslog.syslog(
                    syslog.LOG_NOTICE,
                    f"user={entry['user']} action={action} object={target} "
                    f"before={before} after={after} result={result}",
                )
        return line


class DrainState:
    """Remembered weights of drained real servers: a small JSON file, written atomically.

    ``locked()`` makes a read-modify-write exclusive across threads and processes: an
    ``flock`` on ``STATE.lock`` (next to it, created O_NOFOLLOW, mode 0600, and used only if it
    is a regular file of ours)."""

    VERSION = 1

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_STATE_FILE) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock = threading.RLock()
        self._depth = 0
        self._lock_fd: int | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state for a read-modify-write (re-entrant within this object)."""
        with self._lock:
            if self._depth == 0:
                self._lock_fd = self._take_lock()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)  # releases the flock
                    self._lock_fd = None

    def _take_lock(self) -> int:
        where = f"cannot lock the drain state {self.lock_path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NONBLOCK: a FIFO planted there must not hang the open (refused below)
            fd = os.open(
                self.lock_path,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                0o600,
            )
        except OSError as exc:
            reason = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
            raise ActionError(f"{where}: {reason}; nothing was changed") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                raise ActionError(
                    f"{where}: not a regular file owned by uid {os.geteuid()}; nothing was changed"
                )
            deadline = time.monotonic() + LOCK_WAIT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ActionError(
                            f"{where}: another lvstop has held it for "
                            f"{LOCK_WAIT:.0f} s; nothing was changed"
                        ) from None
                    time.sleep(0.01)
        except BaseException:
            os.close(fd)
            raise

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ActionError(f"cannot read the drain state {self.path}: {exc}") from None
        drained = data.get("drained") if isinstance(data, dict) else None
        if not isinstance(drained, dict):
            raise ActionError(f"cannot read the drain state {self.path}: not lvstop's format")
        entries = {k: v for k, v in drained.items() if isinstance(v, dict) and "weight" in v}
        for key, entry in entries.items():
            weight = entry["weight"]
            if (
                isinstance(weight, bool)
                or not isinstance(weight, int)
                or not 0 <= weight <= MAX_WEIGHT
            ):
                # json.dumps: the key and value as JSON text, control characters escaped
                raise ActionError(
                    f"cannot read the drain state {self.path}: the weight remembered for "
                    f"{json.dumps(key)} is {json.dumps(weight)}, not a whole number from 0 to "
                    f"{MAX_WEIGHT}; correct or remove that entry"
                )
        return entries

    def _save(self, drained: dict[str, dict[str, Any]]) -> None:
        tmp: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".drained.")  # 0600, O_EXCL
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(
                    {"version": self.VERSION, "drained": drained}, fh, indent=1, sort_keys=True
                )
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            tmp = None
            # the rename itself survives a crash only once the directory is on disk
            dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise ActionError(f"cannot write the drain state {self.path}: {exc.strerror}") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def remembered(self, key: str) -> int | None:
        entry = self.load().get(key)
        return None if entry is None else int(entry["weight"])

    def remember(self, key: str, weight: int) -> None:
        with self.locked():
            drained = self.load()
            drained[key] = {
                "weight": weight,
                "time": dt.datetime.now(dt.timezone.utc).isoformat(  # noqa: UP017 (python 3.10)
                    timespec="seconds"
                ),
                "user": current_user(),
            }
            self._save(drained)

    def forget(self, key: str) -> None:
        with self.locked():
            drained = self.load()
            if drained.pop(key, None) is not None:
                self._save(drained)

    def all(self) -> dict[str, int]:
        return {k: int(v["weight"]) for k, v in self.load().items()}


def _ident_from_key(svc_key: str) -> bytes:
    proto, family, address, port, fwmark = parse_service_key(svc_key)
    af = FAMILY_NUMBERS[family]
    if fwmark is not None:
        return svc_ident(af, fwmark=fwmark)
    assert address is not None and port is not None
    raw_port = struct.unpack("=H", struct.pack(">H", port))[0]
    return svc_ident(af, PROTOCOL_NUMBERS[proto], ipaddress.ip_address(address).packed, raw_port)


def dest_attrs(rs: RealServer, weight: int) -> bytes:
    """A full IPVS_CMD_ATTR_DEST for SET_DEST: every attribute echoed, the weight replaced."""
    packed = ipaddress.ip_address(rs.address).packed
    tun_flags = 0
    for name in rs.tunnel_flags:
        tun_flags |= {"csum": 1, "remcsum": 2}.get(name, 0)
    parts = [
        genl.nla(DEST_ATTR_ADDR, packed.ljust(16, b"\0")),
        genl.nla_be16(DEST_ATTR_PORT, rs.port),
        genl.nla_u16(DEST_ATTR_ADDR_FAMILY, FAMILY_NUMBERS[rs.family]),
        genl.nla_u32(DEST_ATTR_FWD_METHOD, FORWARD_NUMBERS.get(rs.forward, 0)),
        genl.nla_u32(DEST_ATTR_WEIGHT, weight),
        genl.nla_u32(DEST_ATTR_U_THRESH, rs.upper_threshold),
        genl.nla_u32(DEST_ATTR_L_THRESH, rs.lower_threshold),
    ]
    if rs.tunnel_type is not None:
        parts += [
            genl.nla_u8(DEST_ATTR_TUN_TYPE, TUNNEL_TYPE_NUMBERS.get(rs.tunnel_type, 0)),
            genl.nla_be16(DEST_ATTR_TUN_PORT, rs.tunnel_port),
            genl.nla_u16(DEST_ATTR_TUN_FLAGS, tun_flags),
        ]
    return genl.nla_nested(CMD_ATTR_DEST, parts)


def _kernel_reason(exc: IpvsError) -> str:
    return genl.errno_text(exc.errno) if exc.errno else str(exc)


class IpvsWriter:
    """Validated, verified, audited IPVS writes. Blocking: the dashboard runs them off the
    loop (``asyncio.to_thread``)."""

    def __init__(
        self,
        reader: IpvsReader | None = None,
        *,
        audit: AuditLog | None = None,
        state: DrainState | None = None,
    ) -> None:
        self.reader = reader or IpvsReader()
        self.audit = audit or AuditLog()
        self.state = state or DrainState()
        self._lock = threading.Lock()

    # -- reading what is there -----------------------------------------------------------------

    def _locate(self, rs_key: str) -> tuple[str, bytes, Service, RealServer]:
        try:
            svc_key, address, port = parse_real_server_key(rs_key)
        except ValueError as exc:
            raise ActionError(str(exc)) from None
        ident = _ident_from_key(svc_key)
        svc = self._read_service(ident)
        if svc is None:
            raise ActionError(f"service {svc_key} does not exist (any more); nothing changed")
        for rs in svc.real_servers:
            if rs.address == address and rs.port == port:
                return svc_key, ident, svc, rs
        raise ActionError(
            f"real server {rs_key} is not in service {svc_key} (any more); nothing changed"
        )

    def _read_service(self, ident: bytes) -> Service | None:
        try:
            return self.reader.read_service(ident)
        except (IpvsPermissionError, IpvsUnavailableError):
            raise
        except IpvsError as exc:
            raise ActionError(f"cannot read the service: {exc}") from None

    # -- writes --------------------------------------------------------------------------------

    def _write_weight(self, action: str, rs_key: str, weight: int) -> tuple[RealServer, RealServer]:
        if (
            not isinstance(weight, int)
            or isinstance(weight, bool)
            or not (0 <= weight <= MAX_WEIGHT)
        ):
            raise ActionError(f"weight must be an integer from 0 to {MAX_WEIGHT}, not {weight!r}")
        _svc_key, ident, _svc, rs = self._locate(rs_key)
        try:
            self.reader.request(
                CMD_SET_DEST, ident + dest_attrs(rs, weight), f"set weight of {rs.key}"
            )
        except IpvsPermissionError:
            raise
        except IpvsError as exc:
            reason = _kernel_reason(exc)
            if exc.errno == errno.ENOENT:
                reason = "the real server vanished"
            elif exc.errno == errno.ESRCH:
                reason = "the service vanished"
            self.audit.record(action, rs.key, str(rs.weight), str(weight), f"rejected: {reason}")
            raise ActionError(
                f"the kernel rejected weight {weight} for {rs.key}: {reason}; nothing changed"
            ) from None
        # read back
        svc = self._read_service(ident)
        after = None if svc is None else svc.real_server(rs.endpoint)
        if after is None or after.weight != weight:
            seen = "gone" if after is None else f"weight {after.weight}"
            self.audit.record(
                action, rs.key, str(rs.weight), str(weight), f"not verified: read back {seen}"
            )
            raise ActionError(f"set weight {weight} on {rs.key}, but read back {seen}")
        return rs, after

    def set_weight(self, rs_key: str, weight: int) -> Change:
        with self._lock:
            self.audit.check()
            before, after = self._write_weight("weight", rs_key, weight)
            self.audit.record("weight", after.key, str(before.weight), str(after.weight), "ok")
            return Change(
                "weight",
                after.key,
                str(before.weight),
                str(after.weight),
                f"{after.key}: weight {before.weight} -> {after.weight}",
            )

    def drain(self, rs_key: str) -> Change:
        """Weight 0, remembering the weight for ``restore`` (a second drain keeps the first
        remembered weight)."""
        with self._lock:
            self.audit.check()
            self._locate(rs_key)  # refused (no such real server, no permission): no file made
            with self.state.locked():
                # read again under the lock: another lvstop may have drained it meanwhile
                _svc_key, _ident, _svc, rs = self._locate(rs_key)
                remembered = self.state.remembered(rs.key)
                if rs.weight == 0:
                    note = (
                        f"remembered weight {remembered}"
                        if remembered is not None
                        else "no weight remembered"
                    )
                    return Change(
                        "drain",
                        rs.key,
                        "0",
                        "0",
                        f"{rs.key}: already drained (weight 0, {note}); nothing changed",
                    )
                if remembered is None or remembered == 0:
                    self.state.remember(rs.key, rs.weight)  # before the write: never unknown
                try:
                    before, after = self._write_weight("drain", rs.key, 0)
                except ActionError:
                    if remembered is None:
                        self.state.forget(rs.key)
                    raise
            self.audit.record("drain", after.key, str(before.weight), "0", "ok")
            return Change(
                "drain",
                after.key,
                str(before.weight),
                "0",
                f"{after.key}: drained, weight {before.weight} -> 0 "
                f"(remembered {before.weight} in {self.state.path})",
            )

    def restore(self, rs_key: str, weight: int | None = None) -> Change:
        """Give a drained real server its remembered weight back (or ``weight``)."""
        with self._lock:
            self.audit.check()
            try:
                svc_key, address, port = parse_real_server_key(rs_key)
            except ValueError as exc:
                raise ActionError(str(exc)) from None

            key = f"{svc_key}->{endpoint(address, port)}"
            self._no_weight_to_restore(key, weight)  # refused: no file made
            self._locate(key)
            with self.state.locked():
                self._no_weight_to_restore(key, weight)  # another lvstop restored it meanwhile?
                remembered = self.state.remembered(key)
                target = weight if weight is not None else remembered
                assert target is not None
                before, after = self._write_weight("restore", key, target)
                self.state.forget(key)
            self.audit.record("restore", after.key, str(before.weight), str(after.weight), "ok")
            return Change(
                "restore",
                after.key,
                str(before.weight),
                str(after.weight),
                f"{after.key}: restored, weight {before.weight} -> {after.weight}",
            )

    def _no_weight_to_restore(self, key: str, weight: int | None) -> None:
        if weight is None and self.state.remembered(key) is None:
            raise ActionError(
                f"no remembered weight for {key} (it was not drained by lvstop); "
                "give one: lvstop weight KEY N"
            )

    def set_timeouts(self, tcp: int = 0, tcpfin: int = 0, udp: int = 0) -> Change:
        """Set the three timeouts in seconds; 0 leaves one unchanged (as ``ipvsadm --set``)."""
        for name, value in (("tcp", tcp), ("tcpfin", tcpfin), ("udp", udp)):
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not (0 <= value <= MAX_TIMEOUT)
            ):
                raise ActionError(
                    f"{name} timeout must be an integer from 0 (unchanged) to {MAX_TIMEOUT} "
                    f"seconds, not {value!r}"
                )
        if not (tcp or tcpfin or udp):
            raise ActionError("no timeout given (all 0 = all unchanged); nothing to do")
        with self._lock:
            self.audit.check()
            before = self._timeouts()
            attrs = b""
            if tcp:
                attrs += genl.nla_u32(CMD_ATTR_TIMEOUT_TCP, tcp)
            if tcpfin:
                attrs += genl.nla_u32(CMD_ATTR_TIMEOUT_TCP_FIN, tcpfin)
            if udp:
                attrs += genl.nla_u32(CMD_ATTR_TIMEOUT_UDP, udp)
            wanted = Timeouts(tcp or before.tcp, tcpfin or before.tcpfin, udp or before.udp)
            b_text = _timeouts_text(before)
            try:
                self.reader.request(CMD_SET_CONFIG, attrs, "set timeouts")
            except IpvsPermissionError:
                raise
            except IpvsError as exc:
                reason = _kernel_reason(exc)
                self.audit.record(
                    "timeouts", "timeouts", b_text, _timeouts_text(wanted), f"rejected: {reason}"
                )
                raise ActionError(
                    f"the kernel rejected timeouts {_timeouts_text(wanted)}: {reason}; "
                    "nothing changed"
                ) from None
            after = self._timeouts()
            a_text = _timeouts_text(after)
            if after != wanted:
                self.audit.record(
                    "timeouts",
                    "timeouts",
                    b_text,
                    a_text,
                    f"not verified: wanted {_timeouts_text(wanted)}",
                )
                raise ActionError(f"set timeouts {_timeouts_text(wanted)}, but read back {a_text}")
            self.audit.record("timeouts", "timeouts", b_text, a_text, "ok")
            return Change(
                "timeouts",
                "timeouts",
                b_text,
                a_text,
                f"timeouts (tcp tcpfin udp): {b_text} -> {a_text}",
            )

    def _timeouts(self) -> Timeouts:
        try:
            return self.reader.read_timeouts()
        except (IpvsPermissionError, IpvsUnavailableError):
            raise
        except IpvsError as exc:
            raise ActionError(f"cannot read the timeouts: {exc}") from None

    def remembered_weights(self) -> dict[str, int]:
        """Real-server key -> weight remembered by a drain (empty when unreadable)."""
        try:
            return self.state.all()
        except ActionError:
            return {}


def _timeouts_text(t: Timeouts) -> str:
    return f"{t.tcp} {t.tcpfin} {t.udp}"


def default_audit_log() -> str:
    return os.environ.get("LVSTOP_AUDIT_LOG", DEFAULT_AUDIT_LOG)


def default_state_file() -> str:
    return os.environ.get("LVSTOP_STATE_FILE", DEFAULT_STATE_FILE)


def add_write_options(parser: argparse.ArgumentParser) -> None:
    """--audit-log and --state-file: every front end that writes offers them (the write
    commands, ``lvstop agent``); None leaves the defaults below."""
    parser.add_argument(
        "--audit-log",
        metavar="PATH",
        help="audit log file (default $LVSTOP_AUDIT_LOG or "
        "/var/log/lvstop/audit.log); every write is also sent to syslog",
    )
    parser.add_argument(
        "--state-file",
        metavar="PATH",
        help="where drained weights are remembered (default "
        "$LVSTOP_STATE_FILE or /var/lib/lvstop/drained.json)",
    )


def make_writer(
    audit_log: str | None = None, state_file: str | None = None, use_syslog: bool = True
) -> IpvsWriter:
    """The writer a front end hands to what writes (the write commands, the dashboard's
    KernelActions); None paths mean $LVSTOP_AUDIT_LOG / $LVSTOP_STATE_FILE or the defaults.
    Nothing is opened until the first write."""
    return IpvsWriter(
        audit=AuditLog(audit_log or default_audit_log(), use_syslog=use_syslog),
        state=DrainState(state_file or default_state_file()),
    )
