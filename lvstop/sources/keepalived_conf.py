"""keepalived.conf parser: reads the configuration the way keepalived 2.2 does, executes nothing.

Two stages, both plain Python:

1. **Lines** (``_Reader``), a port of keepalived's ``lib/parser.c`` ``read_line``: ``!`` and
   ``#`` comments outside double quotes (``\\#`` / ``\\!`` escape them), ``@id`` / ``@^id``
   conditional lines against the config id (``--config-id``, default the host name up to its
   first dot, as keepalived), ``$NAME=value`` definitions (multi-line with a trailing ``\\``)
   and ``$NAME`` / ``${NAME}`` uses, ``~SEQ(var, [start,] [step,] end)`` / ``~SEQx`` and
   ``~LST(var, v1, v2...)`` line repetition, ``include`` (globs, ``{a,b}`` braces, paths
   relative to the directory of the including file), and every unquoted ``{`` / ``}`` on a
   line of its own.
2. **Tree and model**: words (whitespace separated, ``"quoted strings"`` as one word) become
   nested ``Statement`` blocks, then ``lvstop.model.keepalived`` objects. Keywords keepalived
   2.2.7 does not know are kept (``extra``) and reported as warnings, never fatal.

Fatal problems (unbalanced braces, a missing include, an include loop, binary data, a line
longer than keepalived's buffer, an unreadable file) raise ``KeepalivedConfigError`` whose
message is one line: ``FILE:LINE: what``.
"""

from __future__ import annotations

import dataclasses
import glob
import ipaddress
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

from lvstop.errors import LvstopError
from lvstop.model.keepalived import (
    CHECKER_TYPES,
    Check,
    ConfigWarning,
    GlobalDefs,
    GroupEntry,
    KeepalivedConfig,
    LvsSyncDaemon,
    LvsTimeouts,
    RealServer,
    SorryServer,
    Statement,
    Tracked,
    UrlCheck,
    VirtualIp,
    VirtualServer,
    VirtualServerGroup,
    VrrpInstance,
    VrrpScript,
    VrrpSyncGroup,
    Where,
)

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"

#: keepalived reads lines with fgets() into a 1024-byte buffer (MAXBUF): longer lines are cut
#: into pieces it then misreads, so lvstop refuses them.
MAX_LINE = 1022
#: all files of one configuration together; far above any real one, protects the dashboard.
MAX_TOTAL_BYTES = 32 * 1024 * 1024
MAX_INCLUDE_DEPTH = 32
MAX_EXPANSIONS = 10_000


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Every keyword keepalived 2.2.7 installs (install_keyword*/checker/bfd keyword calls in its
# sources). A word not in here is "Unknown keyword" to keepalived.
KNOWN_KEYWORDS = _words(
    """
BFD_CHECK DNS_CHECK FILE_CHECK HTTP_GET MISC_CHECK PING_CHECK SMTP_CHECK SSL SSL_GET TCP_CHECK
UDP_CHECK accept advert_int alpha auth_pass auth_type authentication bfd_cpu_affinity
bfd_instance bfd_no_swap bfd_priority bfd_process_name bfd_rlimit_rtime bfd_rlimit_rttime
bfd_rt_priority bind_if bind_port bindto ca certificate check_unicast_src checker
checker_cpu_affinity checker_log_all_failures checker_no_swap checker_priority
checker_process_name checker_rlimit_rtime checker_rlimit_rttime checker_rt_priority
child_wait_time config_save_dir connect_ip connect_port connect_timeout data_use_instance
dbus_service_name debug default_interface delay delay_before_retry delay_loop digest
disable_local_igmp dont_track_primary down_timer_adverts dynamic_interfaces enable_dbus
enable_script_security enable_sni enable_snmp_checker enable_snmp_keepalived enable_snmp_rfc
enable_snmp_rfcv2 enable_snmp_rfcv3 enable_snmp_vrrp enable_traps fall fast_recovery
fifo_write_vrrp_states_on_reload file flag-1 flag-2 flag-3 fork_delay full_command fwmark
garp_extra_if garp_group garp_interval garp_lower_prio_delay garp_lower_prio_repeat
garp_master_delay garp_master_refresh garp_master_refresh_repeat garp_master_repeat
global_defs global_tracking gna_interval group ha_suspend hashed helo_name
higher_prio_send_advert hoplimit host http_protocol hysteresis idle_tx include_check
inhibit_on_failure init_fail init_file instance interface interface_up_down_delays interfaces
interval ip_family kernel_rx_buf_size key lb_algo lb_kind linkbeat_interfaces
linkbeat_use_polling log_all_failures log_unknown_vrids lower_prio_no_advert lthreshold
lvs_flush lvs_flush_on_stop lvs_flush_onstop lvs_method lvs_netlink_cmd_rcv_bufs
lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs lvs_netlink_monitor_rcv_bufs_force
lvs_notify_fifo lvs_notify_fifo_script lvs_process_name lvs_sched lvs_sync_daemon
lvs_sync_daemon_interface lvs_timeouts max_auto_priority max_hops max_reply_length
mcast_dst_ip mcast_src_ip mh-fallback mh-port min_auto_priority_delay min_reply_length min_rx
min_tx misc_dynamic misc_path misc_timeout multiplier name namespace_with_ipsets native_ipv6
nb_get_retry neighbor_ip neighbour_ip net_namespace net_namespace_ipvs nftables
nftables_counters nftables_ifindex nftables_ipvs nftables_ipvs_priority
nftables_ipvs_start_fwmark nftables_priority no_accept no_checker_emails no_email_faults
nopreempt notification_email notification_email_from notify notify_backup notify_deleted
notify_down notify_fault notify_fifo notify_fifo_script notify_master
notify_master_rx_lower_pri notify_priority_changes notify_stop notify_up old_unicast_checksum
omega ops param_match passive password path payload persistence_engine
persistence_granularity persistence_timeout preempt preempt_delay priority process
process_monitor_rcv_bufs process_monitor_rcv_bufs_force process_name process_names
promote_secondaries protocol quorum quorum_down quorum_max quorum_up random_seed real_server
regex regex_max_offset regex_min_offset regex_no_match regex_options regex_stack
reload_check_config reload_file reload_repeat reload_time_file require_reply retry rise
router_id rs_init_notifies script script_user sh-fallback sh-port shutdown_script
shutdown_script_timeout skip_check_adv_addr smtp_alert smtp_alert_checker smtp_alert_vrrp
smtp_connect_timeout smtp_helo_name smtp_server snmp_name snmp_socket sorry_server
sorry_server_inhibit sorry_server_lvs_method source_ip startup_script startup_script_timeout
state static_ipaddress static_routes static_rules status_code strict_mode
sync_group_tracking_weight terminate_delay timeout tmp_config_directory track_bfd track_file
track_group track_interface track_process track_script track_src_ip ttl type umask
unicast_fault_no_peer unicast_peer unicast_src_ip unicast_ttl url use_ipvlan use_pid_dir
use_vmac use_vmac_addr user uthreshold version virtual_ipaddress virtual_ipaddress_excluded
virtual_router_id virtual_routes virtual_rules virtual_server virtual_server_group
virtualhost vmac_addr_prefix vmac_garp_intvl vmac_prefix vmac_xmit_base vrf vrrp
vrrp_check_unicast_src vrrp_cpu_affinity vrrp_down_timer_adverts vrrp_garp_extra_if
vrrp_garp_interval vrrp_garp_lower_prio_delay vrrp_garp_lower_prio_repeat
vrrp_garp_master_delay vrrp_garp_master_refresh vrrp_garp_master_refresh_repeat
vrrp_garp_master_repeat vrrp_gna_interval vrrp_higher_prio_send_advert vrrp_instance
vrrp_ipsets vrrp_iptables vrrp_lower_prio_no_advert vrrp_mcast_group4 vrrp_mcast_group6
vrrp_min_garp vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force
vrrp_netlink_monitor_rcv_bufs vrrp_netlink_monitor_rcv_bufs_force vrrp_no_swap
vrrp_notify_fifo vrrp_notify_fifo_script vrrp_notify_priority_changes vrrp_priority
vrrp_process_name vrrp_rlimit_rtime vrrp_rlimit_rttime vrrp_rt_priority
vrrp_rx_bufs_multiplier vrrp_rx_bufs_policy vrrp_script vrrp_skip_check_adv_addr
vrrp_startup_delay vrrp_strict vrrp_sync_group vrrp_track_file vrrp_track_process
vrrp_version vrrp_vmac_garp_intvl warmup weight
"""
)

ROOT_KEYWORDS = _words(
    """
SSL bfd_instance child_wait_time garp_group global_defs instance interface_up_down_delays
linkbeat_interfaces linkbeat_use_polling namespace_with_ipsets net_namespace
net_namespace_ipvs static_ipaddress static_routes static_rules track_file track_group
use_pid_dir virtual_server virtual_server_group vrrp_instance vrrp_script vrrp_sync_group
vrrp_track_file vrrp_track_process
"""
)

# keepalived 2.2.7 check_parser.c: what a virtual_server / real_server block accepts.
VS_KEYWORDS = _words(
    """
ip_family retry delay_before_retry warmup connect_timeout delay_loop inhibit_on_failure
lb_algo lvs_sched hashed ops flag-1 flag-2 flag-3 sh-port sh-fallback mh-port mh-fallback
lb_kind lvs_method persistence_engine persistence_timeout persistence_granularity protocol
ha_suspend smtp_alert virtualhost snmp_name alpha omega quorum_up quorum_down quorum
hysteresis weight sorry_server sorry_server_inhibit sorry_server_lvs_method real_server
"""
)
RS_KEYWORDS = _words(
    """
weight lvs_method uthreshold lthreshold inhibit_on_failure notify_up notify_down alpha retry
delay_before_retry warmup connect_timeout delay_loop smtp_alert virtualhost snmp_name
"""
) | frozenset(CHECKER_TYPES)

# Blocks whose lines are values (addresses, names, routes), not keywords.
VALUE_BLOCKS = _words(
    """
virtual_ipaddress virtual_ipaddress_excluded virtual_routes virtual_rules static_ipaddress
static_routes static_rules notification_email track_interface track_script track_file
track_process track_bfd track_group unicast_peer group virtual_server_group
linkbeat_interfaces garp_extra_if vrrp_garp_extra_if interfaces
"""
)

NOTIFY_KEYWORDS = (
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
)


_VIP_OPTIONS = ("dev", "label", "scope", "brd", "broadcast", "peer", "metric")


class KeepalivedConfigError(LvstopError):
    """A configuration keepalived would refuse or misread; ``str()`` is ``FILE:LINE: what``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")
        self.file = file
        self.line = line
        self.message = message


def default_config_id() -> str:
    """keepalived's default ``--config-id``: the host name up to its first dot."""
    return socket.gethostname().split(".", 1)[0]


# ---------------------------------------------------------------------------------------------
# Stage 1: lines


_SPECIAL = re.compile(r'[!#"\\]')
_BRACES = re.compile(r'[{}"]')
_BRACE_SPLIT = re.compile(r"([{}])")
_CONTROL = re.compile(r"[\x00-\x08\x0a\x0e-\x1f\x7f]")


def decomment(text: str) -> tuple[str, bool, bool]:
    """keepalived's ``decomment()``: (text, continued with a trailing backslash, bad quote).

    Removes leading blanks, the comment (first ``!`` or ``#`` outside ``"..."``), the
    backslash of ``\\#`` / ``\\!`` outside quotes and trailing blanks.
    """
    text = text.lstrip(" \t")
    if not _SPECIAL.search(text):
        return text.rstrip(" \t"), False, False
    out: list[str] = []
    quote = False
    cont = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            quote = not quote
            out.append(ch)
            i += 1
            continue
        if ch == "\\":
            if i + 1 < n:
                nxt = text[i + 1]
                if not quote and nxt in "#!":
                    out.append(nxt)
                else:
                    out.append(ch)
                    out.append(nxt)
                i += 2
                continue
            cont = True
            break
        if not quote and ch in "!#":
            break
        out.append(ch)
        i += 1
    result = "".join(out).rstrip(" \t")
    if cont:
        result += "\\"
    return result, cont, quote


def split_braces(text: str) -> list[str]:
    """Split a line at every ``{`` / ``}`` outside double quotes; each brace is its own piece."""
    if not _BRACES.search(text):
        stripped = text.strip(" \t")
        return [stripped] if stripped else []
    if '"' not in text:
        return [piece for part in _BRACE_SPLIT.split(text) if (piece := part.strip(" \t"))]
    pieces: list[str] = []
    start = 0
    quote = False
    for i, ch in enumerate(text):
        if ch == '"':
            quote = not quote
        elif not quote and ch in "{}":
            before = text[start:i].strip(" \t")
            if before:
                pieces.append(before)
            pieces.append(ch)
            start = i + 1
    rest = text[start:].strip(" \t")
    if rest:
        pieces.append(rest)
    return pieces


def split_words(text: str) -> tuple[list[str], bool]:
    """keepalived's ``alloc_strvec_r``: blank-separated words, ``"..."`` one word without quotes.

    Returns the words and whether a quote was left open (keepalived drops the rest).
    """
    if '"' not in text:
        return text.split(), False
    words: list[str] = []
    i = 0
    n = len(text)
    white = " \t\f\n\r\v"
    while True:
        while i < n and text[i] in white:
            i += 1
        if i >= n:
            return words, False
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                return words, True
            words.append(text[i + 1 : end])
            i = end + 1
        else:
            j = i
            while j < n and text[j] not in white and text[j] != '"':
                j += 1
            words.append(text[i:j])
            i = j


def _expand_braces(pattern: str) -> list[str]:
    """glob(3)'s GLOB_BRACE: ``a{b,c}d`` -> ``abd``, ``acd`` (nested braces allowed)."""
    depth = 0
    start = -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = pattern[start + 1 : i]
                parts: list[str] = []
                level = 0
                last = 0
                for j, c in enumerate(inner):
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                out: list[str] = []
                for part in parts:
                    out.extend(_expand_braces(pattern[:start] + part + pattern[i + 1 :]))
                return out
    return [pattern]


@dataclass(slots=True)
class _Definition:
    value: str
    multiline: bool = False


_DEF_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(slots=True)
class _Line:
    text: str
    where: Where


@dataclass
class _Reader:
    config_id: str | None
    warnings: list[ConfigWarning]
    defs: dict[str, _Definition] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    total_bytes: int = 0
    _open: list[str] = field(default_factory=list)
    _multiline: _Definition | None = None

    def __post_init__(self) -> None:
        self.defs["_HASH"] = _Definition("#")
        self.defs["_BANG"] = _Definition("!")
        self.defs["_INSTANCE"] = _Definition("")

    def warn(self, where: Where, message: str) -> None:
        self.warnings.append(ConfigWarning(where.file, where.line, message))

    # -- files ---------------------------------------------------------------------------------

    def read_file(self, path: str, where: Where | None) -> Iterator[_Line]:
        real = os.path.realpath(path)
        at = where or Where(path, 0)
        if real in self._open:
            chain = " -> ".join([*self._open[self._open.index(real) :], real])
            raise KeepalivedConfigError(at.file, at.line, f"include loop: {chain}")
        if len(self._open) >= MAX_INCLUDE_DEPTH:
            raise KeepalivedConfigError(
                at.file, at.line, f"includes nested deeper than {MAX_INCLUDE_DEPTH}"
            )
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_TOTAL_BYTES - self.total_bytes + 1)
        except OSError as exc:
            raise KeepalivedConfigError(
                at.file, at.line, f"cannot read {path}: {exc.strerror or exc}"
            ) from None
        self.total_bytes += len(data)
        if self.total_bytes > MAX_TOTAL_BYTES:
            raise KeepalivedConfigError(
                path,
                data.count(b"\n") + 1,
                f"configuration larger than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB; "
                "not a keepalived config",
            )
        self.files.append(os.path.abspath(path))
        self._open.append(real)
        saved_multiline = self._multiline
        self._multiline = None
        try:
            yield from self._file_lines(os.path.abspath(path), data)
        finally:
            self._open.pop()
            self._multiline = saved_multiline

    def _file_lines(self, path: str, data: bytes) -> Iterator[_Line]:
        for lineno, raw_bytes in enumerate(data.split(b"\n"), 1):
            where = Where(path, lineno)
            if b"\0" in raw_bytes:
                raise KeepalivedConfigError(path, lineno, "binary data (NUL byte): not a config")
            if len(raw_bytes) > MAX_LINE:
                raise KeepalivedConfigError(
                    path,
                    lineno,
                    f"line of {len(raw_bytes)} bytes; keepalived reads at most {MAX_LINE}",
                )
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError:
                raise KeepalivedConfigError(
                    path, lineno, "binary data (not UTF-8 text): not a config"
                ) from None
            raw = raw.rstrip("\r\n")
            if _CONTROL.search(raw):
                raise KeepalivedConfigError(
                    path, lineno, "binary data (control characters): not a config"
                )
            if not raw:
                self._end_multiline()
                continue
            text, _cont, bad_quote = decomment(raw)
            if bad_quote:
                raise KeepalivedConfigError(path, lineno, "unterminated quote")
            if not text:
                continue
            if self._multiline is not None:
                self._add_multiline(text)
                continue
            yield from self._process(text, where, 0)

    def _end_multiline(self) -> None:
        if self._multiline is not None and not self._multiline.value:
            self._multiline.multiline = False
        self._multiline = None

    def _add_multiline(self, text: str) -> None:
        assert self._multiline is not None
        if text.endswith("\\"):
            body = text[:-1].rstrip(" \t")
            if body:
                self._multiline.value += body + "\n"
        else:
            self._multiline.value += text
            self._end_multiline()

    # -- one logical line ---------------------------------------------------------------------

    def _process(self, text: str, where: Where, depth: int) -> Iterator[_Line]:
        if depth > 64:
            raise KeepalivedConfigError(where.file, where.line, "definitions nest too deeply")
        expansions = 0
        while True:
            if text.startswith("@"):
                rev = text.startswith("@^")
                rest = text[2:] if rev else text[1:]
                parts = re.split(r"[ \t]", rest, maxsplit=1)
                if len(parts) < 2:
                    return
                matches = self.config_id is not None and parts[0] == self.config_id
                if matches == rev:
                    return
                text = parts[1].lstrip(" \t")
                if not text:
                    return
            if text.startswith("$") and self._definition(text, where):
                return
            if text.startswith("~SEQ") or text.startswith("~LST"):
                yield from self._sequence(text, where, depth)
                return
            if text.startswith("~"):
                break
            if "$" not in text:
                break
            replaced, pending = self._replace(text, where)
            if replaced is None:
                break
            expansions += 1
            if expansions > MAX_EXPANSIONS:
                raise KeepalivedConfigError(where.file, where.line, "recursive $definition")
            text, _cont, _bad = decomment(replaced)
            if pending:
                if text:
                    yield from self._process(text, where, depth + 1)
                for more in pending:
                    yield from self._process(more, where, depth + 1)
                return
            if not text:
                return
            if not (text.startswith("@") or "$" in text):
                break
        yield from self._emit(text, where)

    def _definition(self, text: str, where: Where) -> bool:
        match = _DEF_RE.match(text)
        if not match:
            return False
        name = match.group(1)
        value = text[match.end() :].lstrip(" \t")
        if value.endswith("\\"):
            body = value[:-1].rstrip(" \t")
            definition = _Definition(body + "\n" if body else "", multiline=True)
            self._multiline = definition
        else:
            definition = _Definition(value)
        self.defs[name] = definition
        return True

    def _lookup(self, text: str, pos: int) -> tuple[str, int] | None:
        """The definition name used at ``text[pos] == '$'`` and the end of the use."""
        i = pos + 1
        braces = i < len(text) and text[i] == "{"
        if braces:
            i += 1
        start = i
        if i >= len(text) or not (text[i].isalpha() or text[i] == "_"):
            return None
        while i < len(text) and text[i] in _NAME_CHARS:
            i += 1
        name = text[start:i]
        if braces:
            if i >= len(text) or text[i] != "}":
                return None
            i += 1
        elif i < len(text) and text[i] not in " \t,)":
            return None
        if name == "_PWD":
            return name, i
        return (name, i) if name in self.defs else None

    def _replace(self, text: str, where: Where) -> tuple[str | None, list[str]]:
        pos = 0
        changed = False
        count = 0
        pending: list[str] = []
        while True:
            pos = text.find("$", pos)
            if pos < 0 or pos + 1 >= len(text):
                break
            found = self._lookup(text, pos)
            if found is None:
                pos += 1
                continue
            name, end = found
            if name == "_PWD":
                value = os.path.dirname(where.file)
                definition = _Definition(value)
            else:
                definition = self.defs[name]
                value = definition.value
            if definition.multiline and "\n" in value:
                if end != len(text):
                    pos += 1
                    continue
                first, *rest = value.split("\n")
                pending = [line for line in rest if line] + pending
                value = first
            text = text[:pos] + value + text[end:]
            changed = True
            count += 1
            if count > MAX_EXPANSIONS:
                raise KeepalivedConfigError(where.file, where.line, "recursive $definition")
            if value.lstrip(" \t").startswith("~"):
                break
        return (text if changed else None), pending

    def _sequence(self, text: str, where: Where, depth: int) -> Iterator[_Line]:
        is_list = text.startswith("~LST")
        rest = text[4:]
        hexa = False
        if not is_list and rest.startswith("x"):
            hexa = True
            rest = rest[1:]
        rest = rest.lstrip(" \t")
        close = rest.find(")")
        if not rest.startswith("(") or close < 0:
            self.warn(where, f"invalid {text[:4]} specification '{text}'")
            return
        inside = rest[1:close]
        body = rest[close + 1 :].lstrip(" \t")
        parts = [p.strip(" \t") for p in inside.split(",")]
        var = parts[0]
        if not var or len(parts) < 2:
            self.warn(where, f"invalid {text[:4]} specification '{text}'")
            return
        if is_list:
            values = parts[1:]
        else:
            try:
                nums = [int(self._expand_simple(p), 0) for p in parts[1:]]
            except ValueError:
                self.warn(where, f"invalid ~SEQ values '{text}'")
                return
            if len(nums) == 1:
                end = nums[0]
                start, step = (-1 if end < 0 else 1), (-1 if end < 1 else 1)
            elif len(nums) == 2:
                start, end = nums
                step = 1 if start <= end else -1
            elif len(nums) == 3:
                start, step, end = nums
                if not step or (start < end and step < 0) or (start > end and step > 0):
                    self.warn(where, f"invalid ~SEQ values '{text}'")
                    return
            else:
                self.warn(where, f"invalid ~SEQ specification '{text}'")
                return
            if hexa and (start < 0 or end < 0):
                self.warn(where, f"~SEQx is only valid for positive numbers '{text}'")
                return
            count = (end - start) // step + 1
            if count > 65536:
                raise KeepalivedConfigError(
                    where.file, where.line, f"~SEQ of {count} lines: refusing"
                )
            values = [(f"{v:x}" if hexa else str(v)) for v in range(start, end + step, step)]
        for value in values:
            self.defs[var] = _Definition(value)
            yield from self._process(body, where, depth + 1)

    def _expand_simple(self, text: str) -> str:
        if text.startswith("$"):
            found = self._lookup(text, 0)
            if found is not None and found[0] in self.defs:
                return self.defs[found[0]].value + text[found[1] :]
        return text

    def _emit(self, text: str, where: Where) -> Iterator[_Line]:
        if text.startswith("include") and len(text) > 8 and text[7] in " \t":
            yield from self._include(text[8:].strip(" \t"), where)
            return
        if text.startswith("include") and len(text) > 9 and text[7] in "rmwba" and text[8] in " \t":
            yield from self._include(text[9:].strip(" \t"), where)
            return
        for piece in split_braces(text):
            yield _Line(piece, where)

    def _include(self, pattern: str, where: Where) -> Iterator[_Line]:
        if not pattern:
            self.warn(where, "include without a file name")
            return
        base = os.path.dirname(where.file)
        matches: list[str] = []
        wildcard = False
        missing: list[str] = []
        for one in _expand_braces(pattern):
            path = one if os.path.isabs(one) else os.path.join(base, one)
            if glob.has_magic(path):
                wildcard = True
                matches.extend(sorted(glob.glob(path)))
            elif os.path.lexists(path):
                matches.append(path)
            else:
                missing.append(one)
        if missing and not wildcard:
            raise KeepalivedConfigError(
                where.file, where.line, f"include: no such file {', '.join(missing)}"
            )
        if missing:
            self.warn(where, f"include: no such file {', '.join(missing)}")
        if not matches:
            self.warn(where, f"include: no config files matched '{pattern}'")
            return
        for path in matches:
            if os.path.isdir(path):
                self.warn(where, f"include: '{path}' is a directory - skipped")
                continue
            try:
                mode = os.stat(path).st_mode
            except OSError as exc:
                raise KeepalivedConfigError(
                    where.file, where.line, f"include: cannot read {path}: {exc.strerror}"
                ) from None
            if mode & 0o111:
                self.warn(
                    where,
                    f"include: '{path}' is executable; keepalived skips it",
                )
                continue
            yield from self.read_file(path, where)


# ---------------------------------------------------------------------------------------------
# Stage 2: tree


def build_tree(lines: Iterator[_Line], warnings: list[ConfigWarning]) -> list[Statement]:
    """Lines (braces on their own) -> nested ``Statement`` blocks. Unbalanced braces are fatal."""

    @dataclass
    class Frame:
        opener: _Line | None
        items: list[Statement]
        words: tuple[str, ...] = ()

    stack: list[Frame] = [Frame(None, [])]
    last_file = ""
    last_line = 0
    for line in lines:
        last_file, last_line = line.where.file, line.where.line
        top = stack[-1]
        if line.text == "{":
            if not top.items or top.items[-1].block is not None:
                raise KeepalivedConfigError(
                    line.where.file, line.where.line, "'{' without a keyword before it"
                )
            prev = top.items.pop()
            stack.append(Frame(line, [], prev.words))
            stack[-1].opener = _Line(" ".join(prev.words), prev.where)
            continue
        if line.text == "}":
            if len(stack) == 1:
                raise KeepalivedConfigError(
                    line.where.file, line.where.line, "extra '}' (no block is open)"
                )
            frame = stack.pop()
            assert frame.opener is not None
            stack[-1].items.append(Statement(frame.words, frame.opener.where, tuple(frame.items)))
            continue
        words, open_quote = split_words(line.text)
        if open_quote:
            raise KeepalivedConfigError(line.where.file, line.where.line, "unmatched quote")
        if any(w.startswith("//") for w in words):
            # seen in the wild (operators' notes): C++ remarks keepalived reads as words
            warnings.append(
                ConfigWarning(
                    line.where.file,
                    line.where.line,
                    "'//' does not start a comment in keepalived.conf (use '!' or '#'): "
                    "the rest of the line is read as values",
                )
            )
        if words:
            top.items.append(Statement(tuple(words), line.where))
    if len(stack) > 1:
        frame = stack[-1]
        assert frame.opener is not None
        where = frame.opener.where
        raise KeepalivedConfigError(
            where.file,
            where.line,
            f"'{{' of '{frame.opener.text}' is never closed "
            f"(end of configuration at {last_file}:{last_line})",
        )
    return stack[0].items


# ---------------------------------------------------------------------------------------------
# Stage 3: model


class _Model:
    def __init__(self, warnings: list[ConfigWarning]) -> None:
        self.warnings = warnings
        self.explicit_version: set[str] = set()

    def warn(self, st: Statement, message: str) -> None:
        self.warnings.append(ConfigWarning(st.where.file, st.where.line, message))

    # -- value helpers -------------------------------------------------------------------------

    def arg(self, st: Statement, index: int = 1) -> str | None:
        if len(st.words) <= index:
            self.warn(st, f"'{st.keyword}' needs a value")
            return None
        return st.words[index]

    def int_arg(
        self, st: Statement, lo: int | None = None, hi: int | None = None, index: int = 1
    ) -> int | None:
        text = self.arg(st, index)
        if text is None:
            return None
        try:
            value = int(text, 10)
        except ValueError:
            self.warn(st, f"'{st.keyword}' expects an integer, got '{text}'")
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.warn(st, f"'{st.keyword}' {value} out of range {lo}..{hi}")
            return None
        return value

    def float_arg(self, st: Statement, index: int = 1) -> float | None:
        text = self.arg(st, index)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            self.warn(st, f"'{st.keyword}' expects a number, got '{text}'")
            return None
        if value < 0:
            self.warn(st, f"'{st.keyword}' cannot be negative")
            return None
        return value

    def address(self, st: Statement, text: str) -> str | None:
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            self.warn(st, f"'{text}' is not an IP address")
            return None

    def port(self, st: Statement, text: str) -> int | None:
        try:
            value = int(text, 10)
        except ValueError:
            self.warn(st, f"'{text}' is not a port number")
            return None
        if not 0 <= value <= 65535:
            self.warn(st, f"port {value} out of range")
            return None
        return value

    def bool_flag(self, st: Statement) -> bool:
        """``nopreempt`` / ``vrrp_strict`` style flags; keepalived also accepts a true/false."""
        if len(st.words) > 1:
            word = st.words[1].lower()
            if word in ("false", "off", "no", "0"):
                return False
        return True

    def unknown(self, st: Statement, where_name: str, allowed: frozenset[str] | None) -> None:
        if st.keyword not in KNOWN_KEYWORDS:
            self.warn(st, f"unknown keyword '{st.keyword}' in {where_name}")
        elif allowed is not None and st.keyword not in allowed:
            self.warn(st, f"keyword '{st.keyword}' is not valid in {where_name}")

    def block(self, st: Statement) -> tuple[Statement, ...]:
        if st.block is None:
            self.warn(st, f"'{st.keyword}' needs a {{ }} block")
            return ()
        return st.block

    # -- top level ----------------------------------------------------------------------------

    def config(
        self, tree: list[Statement], files: list[str], config_id: str | None
    ) -> KeepalivedConfig:
        global_defs = GlobalDefs()
        instances: list[VrrpInstance] = []
        groups: list[VrrpSyncGroup] = []
        scripts: list[VrrpScript] = []
        servers: list[VirtualServer] = []
        vs_groups: list[VirtualServerGroup] = []
        extra: list[Statement] = []
        root_netns: str | None = None
        root_instance: str | None = None
        for st in tree:
            kw = st.keyword
            if kw == "global_defs":
                global_defs = self.global_defs(st)
            elif kw == "vrrp_instance":
                inst = self.vrrp_instance(st)
                if inst is not None:
                    if any(i.name == inst.name for i in instances):
                        self.warn(st, f"vrrp_instance {inst.name} defined twice")
                    instances.append(inst)
            elif kw == "vrrp_sync_group":
                grp = self.sync_group(st)
                if grp is not None:
                    groups.append(grp)
            elif kw == "vrrp_script":
                scr = self.vrrp_script(st)
                if scr is not None:
                    scripts.append(scr)
            elif kw == "virtual_server":
                vs = self.virtual_server(st)
                if vs is not None:
                    servers.append(vs)
            elif kw == "virtual_server_group":
                vsg = self.vs_group(st)
                if vsg is not None:
                    vs_groups.append(vsg)
            else:
                if kw == "net_namespace" and len(st.words) > 1:
                    root_netns = st.words[1]
                elif kw == "instance" and len(st.words) > 1:
                    root_instance = st.words[1]
                if kw not in ROOT_KEYWORDS:
                    if kw in KNOWN_KEYWORDS:
                        self.warn(st, f"keyword '{kw}' is not valid at the top level")
                    else:
                        self.warn(st, f"unknown keyword '{kw}'")
                extra.append(st)
        if root_netns is not None or root_instance is not None:
            global_defs = dataclasses.replace(
                global_defs,
                net_namespace=global_defs.net_namespace or root_netns,
                instance=global_defs.instance or root_instance,
            )
        if global_defs.vrrp_version is not None:
            instances = [
                inst
                if inst.name in self.explicit_version
                else dataclasses.replace(inst, version=global_defs.vrrp_version)
                for inst in instances
            ]
        self.cross_checks(instances, groups, scripts, servers, vs_groups)
        return KeepalivedConfig(
            files=tuple(files),
            config_id=config_id,
            global_defs=global_defs,
            vrrp_instances=tuple(instances),
            vrrp_sync_groups=tuple(groups),
            vrrp_scripts=tuple(scripts),
            virtual_servers=tuple(servers),
            virtual_server_groups=tuple(vs_groups),
            warnings=tuple(self.warnings),
            extra=tuple(extra),
        )

    def cross_checks(
        self,
        instances: list[VrrpInstance],
        groups: list[VrrpSyncGroup],
        scripts: list[VrrpScript],
        servers: list[VirtualServer],
        vs_groups: list[VirtualServerGroup],
    ) -> None:
        names = {i.name for i in instances}
        script_names = {s.name for s in scripts}
        for grp in groups:
            for member in grp.instances:
                if member not in names:
                    self.warnings.append(
                        ConfigWarning(
                            grp.where.file,
                            grp.where.line,
                            f"vrrp_sync_group {grp.name}: no vrrp_instance {member}",
                        )
                    )
        for inst in instances:
            for tracked in inst.track_script:
                if tracked.name not in script_names:
                    self.warnings.append(
                        ConfigWarning(
                            inst.where.file,
                            inst.where.line,
                            f"vrrp_instance {inst.name}: track_script {tracked.name} "
                            "is not a vrrp_script",
                        )
                    )
        group_names = {g.name for g in vs_groups}
        for vs in servers:
            if vs.group is not None and vs.group not in group_names:
                self.warnings.append(
                    ConfigWarning(
                        vs.where.file,
                        vs.where.line,
                        f"virtual_server group {vs.group}: no virtual_server_group of that name",
                    )
                )

    # -- global_defs --------------------------------------------------------------------------

    def global_defs(self, st: Statement) -> GlobalDefs:
        values: dict[str, object] = {}
        extra: list[Statement] = []
        for sub in self.block(st):
            kw = sub.keyword
            if kw == "router_id":
                values["router_id"] = self.arg(sub)
            elif kw == "vrrp_strict":
                values["vrrp_strict"] = self.bool_flag(sub)
            elif kw == "vrrp_version":
                values["vrrp_version"] = self.int_arg(sub, 2, 3)
            elif kw == "lvs_sync_daemon":
                if len(sub.words) >= 3:
                    syncid = None
                    if "id" in sub.words:
                        idx = sub.words.index("id")
                        if idx + 1 < len(sub.words) and sub.words[idx + 1].isdigit():
                            syncid = int(sub.words[idx + 1])
                    values["lvs_sync_daemon"] = LvsSyncDaemon(sub.words[1], sub.words[2], syncid)
                elif len(sub.words) == 2:
                    values["lvs_sync_daemon"] = LvsSyncDaemon(sub.words[1])
                else:
                    self.warn(sub, "lvs_sync_daemon needs an interface and a vrrp_instance")
            elif kw == "lvs_timeouts":
                values["lvs_timeouts"] = self.lvs_timeouts(sub)
            elif kw == "instance":
                values["instance"] = self.arg(sub)
            elif kw == "net_namespace":
                values["net_namespace"] = self.arg(sub)
            elif kw == "data_use_instance":
                values["data_use_instance"] = self.bool_flag(sub)
            elif kw == "enable_script_security":
                values["enable_script_security"] = self.bool_flag(sub)
            else:
                if kw not in VALUE_BLOCKS or sub.block is None:
                    self.unknown(sub, "global_defs", None)
                extra.append(sub)
        return GlobalDefs(where=st.where, extra=tuple(extra), **values)  # type: ignore[arg-type]

    def lvs_timeouts(self, st: Statement) -> LvsTimeouts:
        found: dict[str, int] = {}
        words = st.words[1:]
        i = 0
        while i < len(words):
            key = words[i]
            if key in ("tcp", "tcpfin", "udp") and i + 1 < len(words):
                try:
                    found[key] = int(words[i + 1])
                except ValueError:
                    self.warn(st, f"lvs_timeouts {key} expects seconds, got '{words[i + 1]}'")
                i += 2
            else:
                self.warn(st, f"lvs_timeouts: unknown word '{key}'")
                i += 1
        return LvsTimeouts(found.get("tcp"), found.get("tcpfin"), found.get("udp"))

    # -- VRRP ---------------------------------------------------------------------------------

    def vip(self, st: Statement) -> VirtualIp | None:
        text = st.words[0]
        addr_text, _, prefix_text = text.partition("/")
        try:
            addr = ipaddress.ip_address(addr_text)
        except ValueError:
            self.warn(st, f"virtual address '{text}' is not an IP address")
            return None
        maxlen: int = addr.max_prefixlen
        prefix: int = maxlen
        if prefix_text:
            try:
                prefix = int(prefix_text)
            except ValueError:
                self.warn(st, f"virtual address '{text}': bad prefix")
                return None
            if not 0 <= prefix <= maxlen:
                self.warn(st, f"virtual address '{text}': prefix out of range")
                return None
        opts: dict[str, str] = {}
        words = st.words[1:]
        i = 0
        while i < len(words):
            key = words[i]
            if key in _VIP_OPTIONS and i + 1 < len(words):
                opts[key] = words[i + 1]
                i += 2
            else:
                i += 1
        return VirtualIp(
            address=f"{addr}/{prefix}",
            device=opts.get("dev"),
            label=opts.get("label"),
            scope=opts.get("scope"),
            where=st.where,
        )

    def tracked(self, st: Statement) -> tuple[Tracked, ...]:
        out: list[Tracked] = []
        for sub in self.block(st):
            weight = None
            if len(sub.words) >= 3 and sub.words[1] == "weight":
                try:
                    weight = int(sub.words[2])
                except ValueError:
                    self.warn(sub, f"track weight '{sub.words[2]}' is not an integer")
            out.append(Tracked(sub.words[0], weight))
        return tuple(out)

    def vrrp_instance(self, st: Statement) -> VrrpInstance | None:
        name = self.arg(st)
        if name is None:
            return None
        values: dict[str, object] = {}
        notify: list[tuple[str, str]] = []
        extra: list[Statement] = []
        for sub in self.block(st):
            kw = sub.keyword
            if kw == "state":
                state = (self.arg(sub) or "").upper()
                if state not in ("MASTER", "BACKUP"):
                    self.warn(sub, f"state '{state}' is neither MASTER nor BACKUP")
                else:
                    values["state"] = state
            elif kw == "interface":
                values["interface"] = self.arg(sub)
            elif kw == "virtual_router_id":
                values["virtual_router_id"] = self.int_arg(sub, 1, 255)
            elif kw == "priority":
                prio = self.int_arg(sub, 1, 255)
                if prio is not None:
                    values["priority"] = prio
            elif kw == "advert_int":
                adv = self.float_arg(sub)
                if adv is not None:
                    values["advert_int"] = adv
            elif kw == "version":
                ver = self.int_arg(sub, 2, 3)
                if ver is not None:
                    values["version"] = ver
                    self.explicit_version.add(name)
            elif kw == "authentication":
                for auth in self.block(sub):
                    if auth.keyword == "auth_type":
                        kind = (self.arg(auth) or "").upper()
                        if kind not in ("PASS", "AH"):
                            self.warn(auth, f"auth_type '{kind}' is neither PASS nor AH")
                        else:
                            values["auth_type"] = kind
                    elif auth.keyword == "auth_pass":
                        values["auth_pass"] = self.arg(auth)
                    else:
                        self.unknown(auth, "authentication", frozenset())
            elif kw in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
                vips = [v for v in (self.vip(x) for x in self.block(sub)) if v is not None]
                values[kw] = tuple(vips)
            elif kw == "unicast_src_ip":
                text = self.arg(sub)
                if text is not None:
                    values["unicast_src_ip"] = self.address(sub, text)
            elif kw == "unicast_peer":
                peers = []
                for peer in self.block(sub):
                    addr = self.address(peer, peer.words[0])
                    if addr is not None:
                        peers.append(addr)
                values["unicast_peer"] = tuple(peers)
            elif kw == "nopreempt":
                values["nopreempt"] = True
            elif kw == "preempt":
                values["nopreempt"] = False
            elif kw == "preempt_delay":
                values["preempt_delay"] = self.float_arg(sub)
            elif kw == "track_script":
                values["track_script"] = self.tracked(sub)
            elif kw == "track_interface":
                values["track_interface"] = self.tracked(sub)
            elif kw in NOTIFY_KEYWORDS:
                script = self.arg(sub)
                if script is not None:
                    notify.append((kw, script))
            elif kw == "use_vmac":
                values["use_vmac"] = True
            elif kw == "lvs_sync_daemon_interface":
                values["lvs_sync_daemon_interface"] = self.arg(sub)
            else:
                if not (kw in VALUE_BLOCKS and sub.block is not None):
                    self.unknown(sub, f"vrrp_instance {name}", None)
                extra.append(sub)
        if values.get("virtual_router_id") is None:
            self.warn(st, f"vrrp_instance {name} has no virtual_router_id")
        if values.get("interface") is None:
            self.warn(st, f"vrrp_instance {name} has no interface")
        return VrrpInstance(
            name=name,
            notify=tuple(notify),
            where=st.where,
            extra=tuple(extra),
            **values,  # type: ignore[arg-type]
        )

    def sync_group(self, st: Statement) -> VrrpSyncGroup | None:
        name = self.arg(st)
        if name is None:
            return None
        members: list[str] = []
        notify: list[tuple[str, str]] = []
        for sub in self.block(st):
            if sub.keyword == "group":
                members.extend(x.words[0] for x in self.block(sub))
            elif sub.keyword in NOTIFY_KEYWORDS:
                script = self.arg(sub)
                if script is not None:
                    notify.append((sub.keyword, script))
            elif sub.keyword in KNOWN_KEYWORDS:
                pass  # smtp_alert, global_tracking, track_* ...
            elif sub.block is None and len(sub.words) == 1:
                # keepalived 1.x syntax: 2.2 no longer reads instance names outside group { }
                self.warn(
                    sub,
                    f"unknown keyword '{sub.keyword}' in vrrp_sync_group {name} "
                    "(keepalived 2 wants instance names inside 'group { }')",
                )
            else:
                self.unknown(sub, f"vrrp_sync_group {name}", None)
        return VrrpSyncGroup(name, tuple(members), tuple(notify), st.where)

    def vrrp_script(self, st: Statement) -> VrrpScript | None:
        name = self.arg(st)
        if name is None:
            return None
        values: dict[str, object] = {}
        for sub in self.block(st):
            kw = sub.keyword
            if kw == "script":
                values["script"] = " ".join(sub.words[1:]) if len(sub.words) > 1 else None
            elif kw in ("interval", "timeout"):
                values[kw] = self.float_arg(sub)
            elif kw == "weight":
                values["weight"] = self.int_arg(sub, -253, 253)
            elif kw in ("rise", "fall"):
                values[kw] = self.int_arg(sub, 1)
            else:
                self.unknown(sub, f"vrrp_script {name}", None)
        return VrrpScript(name=name, where=st.where, **values)  # type: ignore[arg-type]

    # -- LVS ----------------------------------------------------------------------------------

    def vs_group(self, st: Statement) -> VirtualServerGroup | None:
        name = self.arg(st)
        if name is None:
            return None
        entries: list[GroupEntry] = []
        for sub in self.block(st):
            if sub.keyword == "fwmark":
                mark = self.int_arg(sub, 1)
                if mark is not None:
                    entries.append(GroupEntry(fwmark=mark))
                continue
            text = sub.words[0]
            first_text, dash, last_text = text.partition("-")
            first = self.address(sub, first_text.split("/")[0])
            if first is None:
                continue
            last = None
            if dash:
                # keepalived: the last byte (IPv4) or 16-bit group (IPv6) of the range end
                try:
                    ip = ipaddress.ip_address(first)
                    if ip.version == 4:
                        base = int(ip) & ~0xFF
                        last = str(ipaddress.ip_address(base + int(last_text)))
                    else:
                        base = int(ip) & ~0xFFFF
                        last = str(ipaddress.ip_address(base + int(last_text, 16)))
                except ValueError:
                    self.warn(sub, f"bad address range '{text}'")
                    continue
            port = self.port(sub, sub.words[1]) if len(sub.words) > 1 else None
            entries.append(GroupEntry(address=first, address_last=last, port=port))
        return VirtualServerGroup(name, tuple(entries), st.where)

    def virtual_server(self, st: Statement) -> VirtualServer | None:
        words = st.words
        values: dict[str, object] = {}
        if len(words) >= 3 and words[1] == "fwmark":
            mark = self.int_arg(st, 1, index=2)
            if mark is None:
                return None
            values["fwmark"] = mark
        elif len(words) >= 3 and words[1] == "group":
            values["group"] = words[2]
        elif len(words) >= 3:
            addr = self.address(st, words[1])
            port = self.port(st, words[2])
            if addr is None or port is None:
                return None
            values["address"] = addr
            values["port"] = port
        else:
            self.warn(st, "virtual_server needs 'ADDRESS PORT', 'fwmark N' or 'group NAME'")
            return None
        label = " ".join(words[1:3])
        real_servers: list[RealServer] = []
        pending_rs: list[Statement] = []
        extra: list[Statement] = []
        protocol_set = False
        for sub in self.block(st):
            kw = sub.keyword
            if kw == "real_server":
                pending_rs.append(sub)
            elif kw in ("lb_algo", "lvs_sched"):
                algo = self.arg(sub)
                if algo is not None:
                    values["lb_algo"] = algo
            elif kw in ("lb_kind", "lvs_method"):
                kind = (self.arg(sub) or "").upper()
                if kind not in ("NAT", "DR", "TUN"):
                    self.warn(sub, f"{kw} '{kind}' is not NAT, DR or TUN")
                else:
                    values["lb_kind"] = kind
            elif kw == "protocol":
                proto = (self.arg(sub) or "").upper()
                if proto not in ("TCP", "UDP", "SCTP"):
                    self.warn(sub, f"protocol '{proto}' is not TCP, UDP or SCTP")
                else:
                    values["protocol"] = proto
                    protocol_set = True
            elif kw == "persistence_timeout":
                # keepalived: the keyword alone means 360 s
                if len(sub.words) == 1:
                    values["persistence_timeout"] = 360
                else:
                    pto = self.int_arg(sub, 0)
                    if pto is not None:
                        values["persistence_timeout"] = pto
            elif kw == "persistence_granularity":
                values["persistence_granularity"] = self.arg(sub)
            elif kw == "delay_loop":
                delay = self.float_arg(sub)
                if delay is not None:
                    values["delay_loop"] = delay
            elif kw == "sorry_server":
                if len(sub.words) >= 2:
                    addr = self.address(sub, sub.words[1])
                    port = self.port(sub, sub.words[2]) if len(sub.words) > 2 else None
                    if addr is not None:
                        values["sorry_server"] = SorryServer(addr, port)
                else:
                    self.warn(sub, "sorry_server needs an address")
            elif kw == "sorry_server_inhibit":
                values["_sorry_inhibit"] = True
            elif kw == "quorum":
                q = self.int_arg(sub, 1)
                if q is not None:
                    values["quorum"] = q
            elif kw == "hysteresis":
                h = self.int_arg(sub, 0)
                if h is not None:
                    values["hysteresis"] = h
            elif kw in ("quorum_up", "quorum_down"):
                values[kw] = " ".join(sub.words[1:]) or None
            elif kw in ("alpha", "omega", "ops"):
                values[kw] = self.bool_flag(sub)
            elif kw == "inhibit_on_failure":
                values["inhibit_on_failure"] = self.bool_flag(sub)
            elif kw == "virtualhost":
                values["virtualhost"] = self.arg(sub)
            elif kw == "ip_family":
                values["ip_family"] = self.arg(sub)
            else:
                self.unknown(sub, f"virtual_server {label}", VS_KEYWORDS)
                extra.append(sub)
        sorry_inhibit = bool(values.pop("_sorry_inhibit", False))
        sorry = values.get("sorry_server")
        if isinstance(sorry, SorryServer) and sorry_inhibit:
            values["sorry_server"] = SorryServer(sorry.address, sorry.port, True)
        if protocol_set and (values.get("fwmark") is not None):
            self.warn(st, f"virtual_server {label}: protocol is ignored for fwmark services")
        vs_inhibit = bool(values.get("inhibit_on_failure", False))
        seen: set[tuple[str, int | None]] = set()
        for rs_st in pending_rs:
            rs = self.real_server(rs_st, label, vs_inhibit)
            if rs is None:
                continue
            if (rs.address, rs.port) in seen:
                self.warn(rs_st, f"real_server {rs_st.words[1]} duplicated; keepalived drops it")
                continue
            seen.add((rs.address, rs.port))
            real_servers.append(rs)
        return VirtualServer(
            real_servers=tuple(real_servers),
            where=st.where,
            extra=tuple(extra),
            **values,  # type: ignore[arg-type]
        )

    def real_server(self, st: Statement, vs_label: str, vs_inhibit: bool) -> RealServer | None:
        if len(st.words) < 2:
            self.warn(st, "real_server needs an address")
            return None
        addr = self.address(st, st.words[1])
        if addr is None:
            return None
        port = self.port(st, st.words[2]) if len(st.words) > 2 else None
        values: dict[str, object] = {"inhibit_on_failure": vs_inhibit}
        checks: list[Check] = []
        extra: list[Statement] = []
        where_name = f"real_server {st.words[1]} of {vs_label}"
        for sub in self.block(st):
            kw = sub.keyword
            if kw == "weight":
                weight = self.int_arg(sub, 0)
                if weight is not None:
                    values["weight"] = weight
            elif kw == "inhibit_on_failure":
                values["inhibit_on_failure"] = self.bool_flag(sub)
            elif kw in ("notify_up", "notify_down"):
                values[kw] = " ".join(sub.words[1:]) or None
            elif kw == "lvs_method":
                kind = (self.arg(sub) or "").upper()
                if kind in ("NAT", "DR", "TUN"):
                    values["lb_kind"] = kind
                else:
                    self.warn(sub, f"lvs_method '{kind}' is not NAT, DR or TUN")
            elif kw in CHECKER_TYPES:
                checks.append(self.check(sub, port))
            else:
                self.unknown(sub, where_name, RS_KEYWORDS)
                extra.append(sub)
        return RealServer(
            address=addr,
            port=port,
            checks=tuple(checks),
            where=st.where,
            extra=tuple(extra),
            **values,  # type: ignore[arg-type]
        )

    def check(self, st: Statement, rs_port: int | None) -> Check:
        values: dict[str, object] = {}
        urls: list[UrlCheck] = []
        hosts: list[Check] = []
        params: list[tuple[str, str]] = []
        for sub in self.block(st) if st.block is not None else ():
            kw = sub.keyword
            if kw == "connect_ip":
                text = self.arg(sub)
                if text is not None:
                    values["connect_ip"] = self.address(sub, text)
            elif kw == "connect_port":
                text = self.arg(sub)
                if text is not None:
                    values["connect_port"] = self.port(sub, text)
            elif kw == "connect_timeout":
                values["connect_timeout"] = self.float_arg(sub)
            elif kw in ("retry", "nb_get_retry"):
                values["retry"] = self.int_arg(sub, 0)
            elif kw == "delay_before_retry":
                values["delay_before_retry"] = self.float_arg(sub)
            elif kw == "url":
                url: dict[str, str] = {}
                for part in self.block(sub):
                    if part.keyword in ("path", "digest"):
                        url[part.keyword] = self.arg(part) or ""
                    elif part.keyword == "status_code":
                        url["status_code"] = " ".join(part.words[1:])
                    else:
                        self.unknown(part, "url", None)
                urls.append(UrlCheck(url.get("path"), url.get("digest"), url.get("status_code")))
            elif kw == "host" and st.keyword == "SMTP_CHECK":
                hosts.append(self.check(Statement(("host",), sub.where, sub.block), rs_port))
            else:
                if kw not in KNOWN_KEYWORDS:
                    self.warn(sub, f"unknown keyword '{kw}' in {st.keyword}")
                params.append((kw, " ".join(sub.words[1:])))
        return Check(
            type=st.keyword,
            urls=tuple(urls),
            hosts=tuple(hosts),
            params=tuple(params),
            where=st.where,
            **values,  # type: ignore[arg-type]
        )


# ---------------------------------------------------------------------------------------------
# Entry points


def parse_file(
    path: str = DEFAULT_CONFIG,
    *,
    config_id: str | None = None,
    defines: dict[str, str] | None = None,
) -> KeepalivedConfig:
    """Parse the configuration starting at ``path`` (includes followed).

    ``config_id`` is keepalived's ``-i``/``--config-id`` (None: the host name, as keepalived).
    Raises ``KeepalivedConfigError`` (one line, ``FILE:LINE: what``) when keepalived would
    refuse or misread the file; everything else is a warning in ``.warnings``.
    """
    if config_id is None:
        config_id = default_config_id()
    if not os.path.exists(path):
        raise KeepalivedConfigError(path, 0, "no such file")
    if os.path.isdir(path):
        raise KeepalivedConfigError(path, 0, "is a directory")
    warnings: list[ConfigWarning] = []
    reader = _Reader(config_id, warnings)
    for name, value in (defines or {}).items():
        reader.defs[name] = _Definition(value)
    tree = build_tree(reader.read_file(path, None), warnings)
    return _Model(warnings).config(tree, reader.files, config_id)


def parse_text(
    text: str,
    *,
    name: str = "<text>",
    config_id: str | None = "",
    base_dir: str | None = None,
) -> KeepalivedConfig:
    """Parse configuration text (tests, recordings). Includes resolve against ``base_dir``."""
    import tempfile

    directory = base_dir or tempfile.gettempdir()
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=".lvstop-", suffix=f"-{os.path.basename(name)}", delete=False
    ) as handle:
        handle.write(text)
        path = handle.name
    try:
        return parse_file(path, config_id=config_id)
    finally:
        os.unlink(path)


def statements(path: str, *, config_id: str | None = None) -> list[Statement]:
    """The raw statement tree (after includes, definitions and conditionals)."""
    warnings: list[ConfigWarning] = []
    reader = _Reader(config_id if config_id is not None else default_config_id(), warnings)
    return build_tree(reader.read_file(path, None), warnings)


def render(tree: list[Statement] | tuple[Statement, ...], indent: str = "") -> str:
    """Statements back to keepalived syntax (words quoted when they need it)."""
    out: list[str] = []
    for st in tree:
        line = indent + " ".join(_quote(w) for w in st.words)
        if st.block is None:
            out.append(line)
        else:
            out.append(line + " {")
            inner = render(st.block, indent + "    ")
            if inner:
                out.append(inner)
            out.append(indent + "}")
    return "\n".join(out)


_NEEDS_QUOTES = re.compile(r'[\s{}!#"$\\]|^[@~]|^include')


def _quote(word: str) -> str:
    if word and not _NEEDS_QUOTES.search(word):
        return word
    return f'"{word}"'


def find_config_path(cmdline: list[str]) -> str:
    """The config file from a keepalived command line (``-f FILE``, ``--use-file=FILE``)."""
    for i, arg in enumerate(cmdline):
        if arg in ("-f", "--use-file") and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith("--use-file="):
            return arg.split("=", 1)[1]
        if arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
    return DEFAULT_CONFIG


__all__ = [
    "DEFAULT_CONFIG",
    "KNOWN_KEYWORDS",
    "KeepalivedConfigError",
    "build_tree",
    "decomment",
    "default_config_id",
    "find_config_path",
    "parse_file",
    "parse_text",
    "render",
    "split_braces",
    "split_words",
    "statements",
]
