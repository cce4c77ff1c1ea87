"""keepalived itself as the oracle of lvstop's effective config: what its dumps, its log and its
``keepalived -t`` output say, compared with what lvstop read from the same file. Shared by the
host replay (tests/unit/test_keepalived_corpus_oracle.py) and the live lab tests
(tests/lab/test_keepalived_corpus_lab.py). Each ``compare_*`` returns the disagreements, one
line each (empty: keepalived and lvstop agree)."""

from __future__ import annotations

import os
import re
from collections import Counter

from lvstop.model.keepalived import HostInterface, KeepalivedConfig
from lvstop.sources.keepalived_state import parse_check_data


def recording_host(*, vlan: bool) -> dict[str, HostInterface]:
    """The interfaces the recorders (corpus_inside.sh) and the lab tests give keepalived: dummy
    eth0..eth3, all up, with IPv6 link-local addresses; 192.168.200.1 on eth0, 192.168.201.1
    on eth1; for the samples the VLAN eth0.1 (no IPv4 address)."""
    v4, v6 = frozenset({"inet", "inet6"}), frozenset({"inet6"})
    host = {
        "lo": HostInterface("lo", True, frozenset({"inet"})),
        "eth0": HostInterface("eth0", True, v4),
        "eth1": HostInterface("eth1", True, v4),
        "eth2": HostInterface("eth2", True, v6),
        "eth3": HostInterface("eth3", True, v6),
    }
    if vlan:
        host["eth0.1"] = HostInterface("eth0.1", True, v6)
    return host


#: lib/parser.c's number readers' own messages (the keyword's handler follows with its own)
#: (the log, keepalived running, puts "WARNING - " before them)
NUMBER_READER = r"^(?:WARNING - )?(?:negative |invalid )?number '([^']*)'"
AUTH = {"none": None, "SIMPLE_PASSWORD": "PASS", "IPSEC_AH": "AH"}


def blocks(text: str, marker: str) -> list[dict[str, str]]:
    """``key = value`` lines of each dump block starting with ``marker = NAME``."""
    out: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith(f" {marker} = "):
            current = {"name": line.split(" = ", 1)[1].strip()}
            out.append(current)
        elif line.startswith(" ------<") or line.startswith("------<"):
            current = None
        elif current is not None and " = " in line and line.startswith("   ") and line[3] != " ":
            key, value = line.strip().split(" = ", 1)
            current.setdefault(key, value)
    return out


def refused(log: str) -> bool:
    """keepalived (or its VRRP / checker process) exited on this config (its log)."""
    return "exited with permanent error CONFIG" in log


def compare_errors(cfg: KeepalivedConfig, log: str) -> list[str]:
    if bool(cfg.errors) == refused(log):
        return []
    return [f"lvstop errors {[str(e) for e in cfg.errors]} but keepalived log: {log[-1500:]}"]


def compare_vrrp(cfg: KeepalivedConfig, data: str | None) -> list[str]:
    theirs = {b["name"]: b for b in blocks(data, "VRRP Instance")} if data else {}
    ours = {i.name: i for i in cfg.vrrp_instances}
    if set(theirs) != set(ours):
        return [f"instances: keepalived {sorted(theirs)}, lvstop {sorted(ours)}"]
    groups = {m: g.name for g in cfg.vrrp_sync_groups for m in g.instances}
    out = []
    for name, inst in ours.items():
        ka = theirs[name]
        got = {
            "vrid": ka.get("Virtual Router ID"),
            "priority": ka.get("Priority"),
            "state": ka.get("Wantstate"),
            "version": ka.get("VRRP Version"),
            "auth": AUTH.get(ka.get("Authentication type", "none"), "?"),
            "preempt": ka.get("Preempt"),
            "group": ka.get("Sync group"),
        }
        want = {
            "vrid": str(inst.virtual_router_id),
            "priority": str(inst.priority),
            # keepalived starts it in FAULT on this host (lvstop says why when it knows the host)
            "state": "FAULT" if inst.fault else inst.state,
            "version": str(inst.version),
            "auth": inst.auth_type,
            "preempt": "disabled" if inst.nopreempt else "enabled",
            "group": groups.get(name),
        }
        for key in got:
            if got[key] != want[key]:
                out.append(f"{name} {key}: keepalived {got[key]!r}, lvstop {want[key]!r}")
        if inst.auth_type == "PASS" and ka.get("Password") != inst.auth_pass:
            out.append(
                f"{name} auth_pass: keepalived {ka.get('Password')!r}, lvstop {inst.auth_pass!r}"
            )
        source = inst.unicast_src_ip or inst.mcast_src_ip
        if source is not None and (ka.get("Using src_ip") or "").split(" ")[0] != source:
            out.append(f"{name} source: keepalived {ka.get('Using src_ip')!r}, lvstop {source!r}")
    return out


def checkers(text: str) -> Counter[tuple[str, str, str]]:
    """(real server address, checker type, retries) of keepalived's health checker dump
    ("none": a checker without retries, as FILE_CHECK)."""
    out: Counter[tuple[str, str, str]] = Counter()
    target = method = retries = None
    section = False
    for line in text.splitlines():
        if line.startswith("------< Health checkers"):
            section = True
            continue
        if not section:
            continue
        if line.startswith("------<"):
            break
        if line.startswith(" ") and not line.startswith("  ") and "->" in line:
            if target and method:
                out[(target, method, retries or "none")] += 1
            found = re.search(r"-> \[([^\]]+)\]", line)
            target = found.group(1) if found else line.split("->")[1].strip()
            if not re.fullmatch(r"[0-9a-fA-F.:]+", target):
                # keepalived 2.2.7 keeps the checker of a real server it skipped (address
                # family mismatch) and dumps it from freed memory: not a checker that runs
                target = None
            method = retries = None
        elif line.strip().startswith("Retries = "):
            retries = line.split(" = ", 1)[1].strip()
        elif line.strip().startswith("Keepalive method = "):
            method = line.split(" = ", 1)[1].split(",")[0].strip()
    if target and method:
        out[(target, method, retries or "none")] += 1
    return out


def compare_lvs(cfg: KeepalivedConfig, text: str | None) -> list[str]:
    if text is None:
        return (
            [
                "keepalived dumped no checker data; "
                f"lvstop has {len(cfg.virtual_servers)} virtual servers"
            ]
            if cfg.virtual_servers
            else []
        )
    seen = parse_check_data(text)
    labels = ([vs.label for vs in seen], [vs.label for vs in cfg.virtual_servers])
    if labels[0] != labels[1]:
        return [f"virtual servers: keepalived {labels[0]}, lvstop {labels[1]}"]
    out = []
    for ka, vs in zip(seen, cfg.virtual_servers, strict=True):
        kind = (ka.lb_kind or "").split(",")[0]  # "TUN, type = IPIP"
        if (ka.lb_algo, kind) != (vs.lb_algo, vs.lb_kind):
            out.append(
                f"{vs.label}: keepalived {ka.lb_algo} {kind}, lvstop {vs.lb_algo} {vs.lb_kind}"
            )
        if vs.fwmark is None and vs.group is None and ka.protocol != vs.protocol:
            out.append(f"{vs.label} protocol: keepalived {ka.protocol}, lvstop {vs.protocol}")
        if (ka.quorum, ka.hysteresis) != (vs.quorum, vs.hysteresis):
            out.append(
                f"{vs.label} quorum/hysteresis: keepalived {ka.quorum}/{ka.hysteresis}, "
                f"lvstop {vs.quorum}/{vs.hysteresis}"
            )
        ours = [(rs.address, rs.port or 0, rs.weight) for rs in vs.real_servers]
        theirs = [(rs.address, rs.port, rs.weight) for rs in ka.real_servers]
        if theirs != ours:
            out.append(f"{vs.label} real servers: keepalived {theirs}, lvstop {ours}")
    extras = blocks(text, "VS VIP") + blocks(text, "VS FWMARK") + blocks(text, "VS GROUP")
    persistence = sorted(b.get("persistence timeout", "0") for b in extras)
    mine = sorted(str(vs.persistence_timeout) for vs in cfg.virtual_servers)
    if persistence != mine:
        out.append(f"persistence timeouts: keepalived {persistence}, lvstop {mine}")
    want: Counter[tuple[str, str, str]] = Counter()
    for vs in cfg.virtual_servers:
        for rs in vs.real_servers:
            for check in rs.checks:
                # keepalived drops a MISC_CHECK whose program is missing (lib/notify.c)
                program = (check.param("misc_path") or "").split(" ")[0]
                if check.type == "MISC_CHECK" and not os.access(program, os.X_OK):
                    continue
                # an SMTP_CHECK's host blocks run as checkers of their own (check_smtp.c)
                for one in (check, *check.hosts):
                    retry = "none" if one.retry is None else str(one.retry)
                    want[(rs.address, check.type, retry)] += 1
    got = checkers(text)
    if got != want:
        out.append(
            f"checkers (rs, type, retries): keepalived {sorted(got.items())}, "
            f"lvstop {sorted(want.items())}"
        )
    return out


# keepalived's messages (its -t output) and the lvstop warning that says the same. A message of
# keepalived with no row here, or whose lvstop warning is missing, fails the test. Where
# keepalived's line is the end of a block (a check it runs at the block's closing brace), lvstop
# points at the block's first line instead: AT_BLOCK_END lists those.
MESSAGES: list[tuple[str, str]] = [
    (r"Unknown keyword '([^']+)'", r"unknown keyword '{0}'"),
    (r"SECURITY VIOLATION - check scripts", r"SECURITY VIOLATION - check scripts"),
    (r"SECURITY VIOLATION - scripts", r"SECURITY VIOLATION - scripts"),
    (r"nb_get_retry is deprecated", r"nb_get_retry is deprecated"),
    (r"\((\S+)\) Specifying lvs_sync_daemon_interface", r"lvs_sync_daemon_interface in a vrrp"),
    (r"Please use global lvs_sync_daemon", r"lvs_sync_daemon_interface in a vrrp"),
    (r"unknown \[(\S+)\] routing method", r"unknown routing method '{0}'"),
    (r"no forwarding method set", r"no forwarding method set"),
    (r"Invalid lvs_scheduler '([^']+)'", r"invalid lvs_scheduler '{0}'"),
    (r"no scheduler set", r"no scheduler set"),
    (r"no protocol set - defaulting to UDP", r"no protocol set"),
    (r"zero port only valid for persistent", r"zero port only valid for persistent"),
    (r"ports don't match - resetting", r"port must be the virtual server's"),
    (r"has port specified - clearing", r"keepalived clears the real server port"),
    (r"has no real servers - ignoring", r"has no real servers"),
    (r"Address family of virtual server and real server (\S+) don't", r"real_server {0}: address"),
    (r"real server \S+ is duplicated", r"real server duplicated"),
    (r"vrrp instance (\S+) already defined", r"vrrp instance already defined"),
    (r"notify_master script already specified", r"notify_master already specified"),
    (r"Truncating auth_pass", r"truncates auth_pass"),
    (r"Priority not valid", r"priority '.*' must be 1..255"),
    # lib/parser.c's number readers say what was wrong with the number before the keyword's
    # handler says what it does about it: lvstop's warning on that line names the number
    (NUMBER_READER, r"'?{0}'? "),
    (r"Advert interval \((\S*)\) not valid", r"advert_int '{0}' not valid"),
    (r"persistence_timeout invalid", r"persistence_timeout '.*' invalid"),
    (r"quorum \d+ for \S+ exceeds total weight", r"quorum exceeds the total weight"),
    (r"hysteresis \d+ >= quorum", r"hysteresis >= quorum"),
    (r"Warning - nopreempt will not work", r"nopreempt does not work with initial state MASTER"),
    (r"nopreempt is incompatible with priority", r"nopreempt is incompatible with priority 255"),
    (r"preempt_delay is incompatible with nopreempt", r"preempt_delay is incompatible with"),
    (r"Initial state master is incompatible with AH", r"incompatible with AH authentication"),
    (r"Strict mode does not support authentication", r"vrrp_strict does not support auth"),
    (r"State MASTER must match being address owner", r"state MASTER must match being address"),
    (r"VRRP version 3 does not support authentication", r"version 3 does not support auth"),
    (r"unknown state '([^']*)'", r"unknown state '{0}'"),
    (r"unknown authentication type '([^']*)'", r"unknown authentication type '{0}'"),
    (r"Sync group (\S+) has no virtual router", r"a sync group without vrrp instances"),
    (r"Sync group (\S+) has only 1 virtual router", r"vrrp_sync_group {0} has only 1"),
    (r"Virtual router (\S+) specified in sync group (\S+) doesn't exist", r"no vrrp_instance {0}"),
    (r"Sync group (\S+), no matching virtual router", r"a sync group without vrrp instances"),
    (r"protocol specified for fwmark", r"protocol is ignored for fwmark"),
    (r"No VIP specified; at least one is sensible", r"no virtual_ipaddress; at least one is"),
    (r"No VIP specified; at least one is required", r"no virtual_ipaddress; at least one is"),
    (r"the virtual router id must be set", r"the virtual router id must be set"),
    (r"VRID '([^']*)' not valid", r"'virtual_router_id' (expects an integer, got '{0}'|{0} out)"),
    (r"Unknown protocol (\S+) - ignoring", r"unknown protocol '{0}'"),
    (r"VRRPv2 advertisement interval \S+ must be an integer", r"VRRPv2 advertisement interval"),
    (r"VRRPv3 advertisement interval \S+ must be in units", r"VRRPv3 advertisement interval"),
    (r"VRRPv3 advertisement interval \S+ is out of range", r"VRRPv3 advertisement interval"),
    (r"duplicate VRID conflict", r"duplicate VRID"),
    (r"(\S+) and (\S+) both use VRID (\d+)", r"duplicate VRID {2}"),
    (r"\((\S+)\) Unknown interface!", r"vrrp_instance {0}: no interface"),
    (
        r"WARNING - interface (\S+) for vrrp_instance (\S+) doesn't exist",
        r"vrrp_instance {1}: interface {0} does not exist on this host",
    ),
    (
        r"WARNING - interface (\S+) for ip address (\S+) doesn't exist",
        r"interface {0} for ip address {1}(/\d+)? does not exist on this host",
    ),
    (r"WARNING - interface (\S+) for VROUTE nexthop", r"interface {0} for the route does not"),
    (r"Non-existent interface specified in configuration", r"Non-existent interface specified"),
    (
        r"\((\S+)\) tracked interface (\S+) doesn't exist",
        r"vrrp_instance {0}: tracked interface {1} does not exist on this host",
    ),
    (r"Unicast peers are not supported in strict mode", r"unicast peers are not supported"),
    (r"Unicast instances must have unicast_src_ip or interface", r"must have unicast_src_ip"),
    (r"Real server weight (\S+) is outside range", r"real server weight {0} is outside range"),
    (r"Config files missing '([^']+)'", r"include: no config files matched '{0}'"),
    (r"vrrp_(garp|gna)_interval '(\S*)' is invalid", r"vrrp_{0}_interval '{1}' is invalid"),
    (r"Block (\S+) has extra parameters (\S+)", r"Block {0} has extra parameters {1}"),
    (r"Disabling track script (\S+) since not found", r"vrrp_script {0}: .*keepalived disables it"),
    # per-instance garp / down timer numbers (vrrp_parser.c)
    (
        r"\((\S+)\): (?:Invalid )?(garp_\w+|down_timer_adverts)(?: \[1:100\])? '([^']*)'",
        r"vrrp_instance {0}: (?:invalid )?{1}(?: \[1:100\])? '{2}'",
    ),
    (r"\((\S+)\): (garp_\w+) must be greater than 0", r"vrrp_instance {0}: {1} must be greater"),
    # routes and rules (vrrp_iproute.c, vrrp_iprule.c)
    (r"cannot track route (\S+) with no interface", r"route {0} has no interface \(dev\)"),
    (r'"gw" for routes is deprecated', r"'gw' in a route is deprecated"),
    (r'"or" for routes is deprecated', r"'or' in a route is deprecated"),
    (r"VRRP parsed invalid IP (\S+)\. skipping", r"invalid IP address '{0}'"),
    (r"Invalid rule (?:to|from) address (\S+)", r"invalid IP address '{0}' \(rule"),
    (r"unknown route keyword (\S+)", r"invalid IP address '{0}': keepalived drops the route"),
    (r"Route must have a destination", r"a route must have a destination"),
    (r"Rule has no preference specified - setting to (\d+)", r"rule has no preference: .* {0}$"),
]


AT_BLOCK_END = ("Address family of virtual server and real server",)


def keepalived_messages(text: str) -> list[tuple[int | None, str]]:
    out: list[tuple[int | None, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("rc="):
            continue
        found = re.match(r"\((?:(.*): )?Line (\d+)\) (.*)$", line)
        if found:
            out.append((int(found.group(2)), found.group(3).strip()))
        else:
            out.append((None, line.strip()))
    return out


# What keepalived logs only when it runs (its checker / VRRP process reads the config and
# checks the scripts it names on this host; ``-t`` does not print these), with lvstop's warning.
# Log lines that point at a config line ("(FILE: Line N) ...") go through MESSAGES; any other
# log line is keepalived at work (states, quorum, netlink), not a reading of the config.
LOG_MESSAGES: list[tuple[str, str]] = [
    (r"The SMTP_CHECK host block is deprecated", r"SMTP_CHECK host blocks are deprecated"),
    (
        r"\((\S+)\) entering FAULT state \(no IPv(\d) address for interface\)",
        r"vrrp_instance {0}: no IPv{1} address",
    ),
    (
        r"\((\S+)\): entering FAULT state \(interface (\S+) down\)",
        r"vrrp_instance {0}: tracked interface {1} is down",
    ),
    (
        r"WARNING - script `([^`]+)` resolved by path search to `([^`]+)`",
        r"script '{0}' resolved by a PATH search to '{1}'",
    ),
    (r"Cannot find script (\S+) in path", r"script '{0}' not found in PATH"),
    (r"Script (\S+) cannot be accessed", r"script '{0}' cannot be accessed"),
    (r"Disabling misc script '?([^' ]+)'? .*since not found", r"MISC_CHECK '{0}' not found"),
]
_LINE_MARK = re.compile(r"\((?:.*: )?Line \d+\) ")


def log_messages(log: str) -> str:
    """The lines of keepalived's log that are about the config."""
    return "\n".join(
        line
        for line in log.splitlines()
        if _LINE_MARK.match(line) or any(re.search(t, line) for t, _m in LOG_MESSAGES)
    )


def compare_warnings(
    cfg: KeepalivedConfig, check_txt: str, table: list[tuple[str, str]] | None = None
) -> list[str]:
    """Every message of ``keepalived -t`` has its lvstop warning (on the same line if it says)."""
    ours = [(w.line, w.message) for w in cfg.warnings]
    missing = []
    for line, message in keepalived_messages(check_txt):
        for theirs, mine in table or MESSAGES:
            hit = re.search(theirs, message)
            if hit is None:
                continue
            pattern = mine.format(*(re.escape(g) for g in hit.groups()))
            at_end = any(m in message for m in AT_BLOCK_END)
            if not any(
                re.search(pattern, text) and (line is None or at == line or (at_end and at <= line))
                for at, text in ours
            ):
                missing.append(f"line {line}: {message!r} (lvstop: /{pattern}/)")
            break
        else:
            missing.append(f"line {line}: {message!r} has no lvstop counterpart")
    return missing


def compare_warnings_back(
    cfg: KeepalivedConfig, check_txt: str, table: list[tuple[str, str]] | None = None
) -> list[str]:
    """Every lvstop warning of a kind in MESSAGES is one keepalived -t printed too."""
    theirs = [message for _line, message in keepalived_messages(check_txt)]
    extra = []
    for warning in cfg.warnings:
        rows = [
            t
            for t, m in table or MESSAGES
            if t != NUMBER_READER and re.search(re.sub(r"\{\d\}", ".*", m), warning.message)
        ]
        if rows and not any(re.search(t, message) for t in rows for message in theirs):
            extra.append(f"lvstop warns {warning} but keepalived does not")
    return extra


def compare_log(cfg: KeepalivedConfig, log: str) -> list[str]:
    """keepalived's log while it loads the config: its config-line messages and the ones in
    LOG_MESSAGES have their lvstop warning, and lvstop's warnings of LOG_MESSAGES kinds are in
    the log (not asked when keepalived refused the config: it stopped before checking)."""
    text = log_messages(log)
    out = compare_warnings(cfg, text, MESSAGES + LOG_MESSAGES)
    if not refused(log):
        out += compare_warnings_back(cfg, text, LOG_MESSAGES)
    return out


def compare_all(
    cfg: KeepalivedConfig, check_txt: str, log: str, data: str | None, check_data: str | None
) -> list[str]:
    out = compare_errors(cfg, log) + compare_warnings(cfg, check_txt)
    out += compare_warnings_back(cfg, check_txt) + compare_log(cfg, log)
    if not refused(log):
        out += compare_vrrp(cfg, data) + compare_lvs(cfg, check_data)
    return out
