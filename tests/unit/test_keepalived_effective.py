"""The effective config: what keepalived 2.2.7 runs, with both values and its reason where that
differs from the file. Each rule is quoted from keepalived's source next to its test; the
oracle tests (test_keepalived_conf_oracle.py, test_keepalived_corpus_oracle.py) check the same
against keepalived itself."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvstop.errors import LvstopError
from lvstop.model.keepalived import KeepalivedConfig
from lvstop.sources.keepalived_conf import KNOWN_KEYWORDS, KeepalivedConfigError, parse_file

VRRP = """vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
{body}
    virtual_ipaddress {{
        10.0.0.100/24
    }}
}}
"""

VS = """virtual_server {head} {{
    protocol TCP
    lb_algo rr
{body}
    real_server 10.0.0.11 {rs_port} {{
        weight 1
{rs_body}
    }}
}}
"""


def parse(tmp_path: Path, text: str) -> KeepalivedConfig:
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    return parse_file(str(path), config_id="x")


def diffs(cfg: KeepalivedConfig, field: str) -> list[tuple[str | None, str | None]]:
    return [(d.written, d.effective) for d in cfg.differences if d.field == field]


def vs(head: str = "10.0.0.1 80", body: str = "", rs_port: str = "80", rs_body: str = "") -> str:
    return VS.format(head=head, body=body, rs_port=rs_port, rs_body=rs_body)


# -- checkers -------------------------------------------------------------------------------


def test_nb_get_retry_in_tcp_check_is_unknown_and_retry_stays_default(tmp_path: Path) -> None:
    # check_tcp.c installs only install_checker_common_keywords(true): no nb_get_retry
    cfg = parse(tmp_path, vs(rs_body="        TCP_CHECK {\n            nb_get_retry 3\n        }"))
    check = cfg.virtual_servers[0].real_servers[0].checks[0]
    assert check.retry == 1 and not check.retry_written
    assert diffs(cfg, "retry") == [("3", "1")]
    assert any("unknown keyword 'nb_get_retry' in TCP_CHECK" in w.message for w in cfg.warnings)


def test_nb_get_retry_in_http_get_is_deprecated_but_applied(tmp_path: Path) -> None:
    body = "        HTTP_GET {\n            url { path / }\n            nb_get_retry 4\n        }"
    cfg = parse(tmp_path, vs(body="    lb_kind NAT", rs_body=body))
    check = cfg.virtual_servers[0].real_servers[0].checks[0]
    assert check.retry == 4 and check.retry_written
    assert any("nb_get_retry is deprecated" in w.message for w in cfg.warnings)
    assert not cfg.differences


def test_retry_inherited_from_real_server_and_defaults_per_checker(tmp_path: Path) -> None:
    body = "        retry 5\n        TCP_CHECK {\n        }\n"
    body += "        MISC_CHECK {\n misc_path /bin/true\n }"
    cfg = parse(tmp_path, vs(rs_body=body))
    tcp, misc = cfg.virtual_servers[0].real_servers[0].checks
    assert (tcp.retry, misc.retry) == (5, 5)
    cfg = parse(tmp_path, vs(rs_body="        MISC_CHECK {\n misc_path /bin/true\n }"))
    assert cfg.virtual_servers[0].real_servers[0].checks[0].retry == 0  # check_misc.c


# -- virtual servers ------------------------------------------------------------------------


def test_lb_kind_lower_case_falls_back_to_nat(tmp_path: Path) -> None:
    cfg = parse(tmp_path, vs(body="    lb_kind dr"))
    assert cfg.virtual_servers[0].lb_kind == "NAT"
    assert diffs(cfg, "lb_kind") == [("dr", "NAT")]
    assert any("unknown routing method 'dr'" in w.message for w in cfg.warnings)


def test_unknown_lb_algo_uses_wlc(tmp_path: Path) -> None:
    cfg = parse(tmp_path, vs(body="    lb_algo roundrobin").replace("    lb_algo rr\n", ""))
    assert cfg.virtual_servers[0].lb_algo == "wlc"
    assert diffs(cfg, "lb_algo") == [("roundrobin", "wlc")]


def test_virtual_server_without_port_is_port_zero_and_persistent(tmp_path: Path) -> None:
    cfg = parse(tmp_path, vs(head="10.0.0.1", rs_port=""))
    (one,) = cfg.virtual_servers
    assert (one.address, one.port, one.label) == ("10.0.0.1", 0, "10.0.0.1:0")
    # check_data.c: "zero port only valid for persistent services - setting"
    assert one.persistence_timeout == 360
    assert diffs(cfg, "persistence_timeout") == [(None, "360")]


def test_no_protocol_defaults_to_udp(tmp_path: Path) -> None:
    cfg = parse(tmp_path, vs().replace("    protocol TCP\n", ""))
    assert cfg.virtual_servers[0].protocol == "UDP"
    assert diffs(cfg, "protocol") == [(None, "UDP")]


def test_real_server_port_rewritten_under_dr_and_fwmark(tmp_path: Path) -> None:
    cfg = parse(tmp_path, vs(body="    lb_kind DR", rs_port="8080"))
    assert cfg.virtual_servers[0].real_servers[0].port == 80
    assert diffs(cfg, "port") == [("8080", "80")]
    text = vs(head="fwmark 7", body="    lb_kind TUN", rs_port="8080").replace("protocol TCP", "")
    cfg = parse(tmp_path, text)
    assert cfg.virtual_servers[0].real_servers[0].port == 0
    assert diffs(cfg, "port") == [("8080", "0")]
    # NAT keeps the port written; a missing one is the virtual server's (silently)
    cfg = parse(tmp_path, vs(body="    lb_kind NAT", rs_port=""))
    assert cfg.virtual_servers[0].real_servers[0].port == 80
    assert not diffs(cfg, "port")


def test_virtual_servers_dropped_at_load(tmp_path: Path) -> None:
    empty = "virtual_server 10.0.0.2 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind DR\n}\n"
    mixed = vs(body="    lb_kind DR").replace("10.0.0.11", "2001:db8::11")
    cfg = parse(tmp_path, empty + mixed)
    assert cfg.virtual_servers == ()
    dropped = [(d.subject, d.effective) for d in cfg.differences if d.effective is None]
    assert dropped == [
        ("virtual_server 10.0.0.2:80", None),
        ("virtual_server 10.0.0.1:80 real_server 2001:db8::11", None),
        ("virtual_server 10.0.0.1:80", None),
    ]


def test_addresses_with_a_prefix_are_accepted(tmp_path: Path) -> None:
    body = (
        "    unicast_src_ip 192.168.0.91/24\n"
        "    unicast_peer {\n        192.168.0.92/24\n        192.168.0.93\n    }"
    )
    cfg = parse(tmp_path, VRRP.format(body=body))
    inst = cfg.vrrp_instances[0]
    assert inst.unicast_src_ip == "192.168.0.91"
    assert inst.unicast_peer == ("192.168.0.92", "192.168.0.93")
    cfg = parse(
        tmp_path, vs(head="10.0.0.1/32 80", rs_port="80").replace("10.0.0.11", "10.0.0.11/24")
    )
    assert [rs.address for rs in cfg.virtual_servers[0].real_servers] == ["10.0.0.11"]


def test_mcast_src_ip_is_reported(tmp_path: Path) -> None:
    cfg = parse(tmp_path, VRRP.format(body="    mcast_src_ip 10.0.0.2"))
    inst = cfg.vrrp_instances[0]
    assert (inst.mcast_src_ip, inst.unicast_src_ip) == ("10.0.0.2", None)
    assert inst.to_dict()["mcast_src_ip"] == "10.0.0.2"


def test_quorum_above_weight_sum_is_reduced(tmp_path: Path) -> None:
    cfg = parse(tmp_path, vs(body="    quorum 5\n    hysteresis 9"))
    one = cfg.virtual_servers[0]
    assert (one.quorum, one.hysteresis) == (1, 0)
    assert diffs(cfg, "quorum") == [("5", "1")]
    assert diffs(cfg, "hysteresis") == [("9", "0")]


# -- VRRP -----------------------------------------------------------------------------------


def test_repeated_instance_and_notify_keep_the_first(tmp_path: Path) -> None:
    first = VRRP.format(body="    notify_master /bin/a\n    notify_master /bin/b\n    priority 90")
    second = VRRP.format(body="    priority 20").replace("51", "52")
    cfg = parse(tmp_path, first + second)
    (inst,) = cfg.vrrp_instances
    assert inst.priority == 90 and inst.notify == (("notify_master", "/bin/a"),)
    assert any("notify_master already specified" in w.message for w in cfg.warnings)
    assert [(d.subject, d.effective) for d in cfg.differences] == [("vrrp_instance VI_1", None)]


def test_state_and_priority_rules(tmp_path: Path) -> None:
    cfg = parse(tmp_path, VRRP.format(body="    state master\n    priority 300"))
    inst = cfg.vrrp_instances[0]
    assert (inst.state, inst.priority) == ("BACKUP", 100)
    assert diffs(cfg, "state") == [("master", "BACKUP")]
    assert diffs(cfg, "priority") == [("300", "100")]
    # vrrp.c: no priority -> 255 for MASTER; no state -> MASTER for priority 255
    cfg = parse(tmp_path, VRRP.format(body="    state MASTER"))
    assert cfg.vrrp_instances[0].priority == 255
    cfg = parse(tmp_path, VRRP.format(body="    priority 255"))
    assert cfg.vrrp_instances[0].state == "MASTER"


def test_nopreempt_cleared_with_initial_master(tmp_path: Path) -> None:
    cfg = parse(tmp_path, VRRP.format(body="    state MASTER\n    priority 150\n    nopreempt"))
    assert not cfg.vrrp_instances[0].nopreempt
    assert diffs(cfg, "nopreempt") == [("nopreempt", "preempt")]


def test_vrrp_strict_demotes_master_and_ignores_auth(tmp_path: Path) -> None:
    body = "    state MASTER\n    priority 150\n"
    body += "    authentication {\n auth_type PASS\n auth_pass x\n }"
    cfg = parse(tmp_path, "global_defs {\n    vrrp_strict\n}\n" + VRRP.format(body=body))
    inst = cfg.vrrp_instances[0]
    assert (inst.state, inst.auth_type) == ("BACKUP", None)
    assert diffs(cfg, "auth_type") == [("PASS", None)]


def test_ah_with_initial_master_is_demoted(tmp_path: Path) -> None:
    body = (
        "    state MASTER\n    priority 150\n    authentication {\n auth_type AH\n auth_pass x\n }"
    )
    cfg = parse(tmp_path, VRRP.format(body=body))
    assert cfg.vrrp_instances[0].state == "BACKUP"
    assert cfg.vrrp_instances[0].auth_type == "AH"


def test_auth_pass_truncated_to_8(tmp_path: Path) -> None:
    body = "    authentication {\n        auth_type PASS\n        auth_pass 0123456789\n    }"
    cfg = parse(tmp_path, VRRP.format(body=body))
    assert cfg.vrrp_instances[0].auth_pass == "01234567"
    assert diffs(cfg, "auth_pass") == [("0123456789", "01234567")]


def test_sync_groups_empty_removed_and_masters_demoted(tmp_path: Path) -> None:
    text = (
        "vrrp_sync_group G_EMPTY {\n    group {\n        NOPE\n    }\n}\n"
        "vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
        + VRRP.format(body="    state MASTER\n    priority 150")
        + VRRP.format(body="    state BACKUP").replace("VI_1", "VI_2").replace("51", "52")
    )
    cfg = parse(tmp_path, text)
    assert [g.name for g in cfg.vrrp_sync_groups] == ["G1"]
    assert cfg.instance("VI_1") is not None and cfg.instance("VI_1").state == "BACKUP"  # type: ignore[union-attr]
    assert ("MASTER", "BACKUP") in diffs(cfg, "state")


def test_deprecated_and_invalid_numbers_warn(tmp_path: Path) -> None:
    body = "    lvs_sync_daemon_interface eth1\n    advert_int 0"
    cfg = parse(tmp_path, VRRP.format(body=body))
    messages = [w.message for w in cfg.warnings]
    assert any("lvs_sync_daemon_interface in a vrrp_instance is deprecated" in m for m in messages)
    assert any("advert_int '0' not valid" in m for m in messages)
    cfg = parse(tmp_path, vs(body="    persistence_timeout 0"))
    assert any("persistence_timeout '0' invalid" in w.message for w in cfg.warnings)


# -- errors: keepalived would not run ---------------------------------------------------------


def test_errors_where_keepalived_exits_and_the_rest_is_still_read(tmp_path: Path) -> None:
    no_vrid = VRRP.format(body="").replace("    virtual_router_id 51\n", "")
    cfg = parse(tmp_path, no_vrid + vs())
    assert [e.message for e in cfg.errors] == [
        "vrrp_instance VI_1: the virtual router id must be set; keepalived's VRRP process exits"
    ]
    assert cfg.virtual_servers and cfg.vrrp_instances  # still shown
    twice = VRRP.format(body="") + VRRP.format(body="").replace("VI_1", "VI_2")
    cfg = parse(tmp_path, twice)
    assert any("duplicate VRID 51" in e.message for e in cfg.errors)
    doc = cfg.to_dict()
    assert doc["errors"] and doc["errors"][0]["level"] == "error"
    assert doc["rules"] == "2.2.7"


def test_every_difference_points_at_a_line(tmp_path: Path) -> None:
    text = vs(body="    lb_kind dr\n    lb_algo nope", rs_port="81") + VRRP.format(
        body="    state master\n    priority 0"
    )
    cfg = parse(tmp_path, text)
    lines = text.splitlines()
    assert len(cfg.differences) == 3  # lb_kind, state, priority (lb_algo rr stays)
    for d in cfg.differences:
        assert d.file.endswith("keepalived.conf") and 1 <= d.line <= len(lines)
        if d.written is not None and d.field:
            assert d.written in lines[d.line - 1]


def test_sorry_server_port_follows_the_virtual_server_outside_nat(tmp_path: Path) -> None:
    cfg = parse(tmp_path, vs(body="    lb_kind DR\n    sorry_server 10.0.0.99 8080"))
    sorry = cfg.virtual_servers[0].sorry_server
    assert sorry is not None and sorry.port == 80
    assert diffs(cfg, "port") == [("8080", "80")]
    cfg = parse(tmp_path, vs(body="    lb_kind NAT\n    sorry_server 10.0.0.99 8080"))
    assert cfg.virtual_servers[0].sorry_server.port == 8080  # type: ignore[union-attr]


def test_quorum_zero_wraps_hysteresis_like_keepalived(tmp_path: Path) -> None:
    # found by the lab's generated configs: real servers of weight 0 make keepalived lower the
    # quorum to 0, and then hysteresis (0 >= 0) to quorum - 1 in unsigned arithmetic
    cfg = parse(tmp_path, vs(rs_body="        weight 0"))
    one = cfg.virtual_servers[0]
    assert (one.quorum, one.hysteresis) == (0, 4294967295)
    assert diffs(cfg, "hysteresis") == [("0", "4294967295")]


def test_advert_int_rounded_to_whole_seconds_for_vrrp2(tmp_path: Path) -> None:
    # found by the lab's generated configs: "(VI_1) VRRPv2 advertisement interval 0.500000s
    # must be an integer. rounding"
    cfg = parse(tmp_path, VRRP.format(body="    advert_int 0.5"))
    assert cfg.vrrp_instances[0].advert_int == 1.0
    assert diffs(cfg, "advert_int") == [("0.5", "1")]
    v3 = "global_defs {\n    vrrp_version 3\n}\n"
    cfg = parse(tmp_path, v3 + VRRP.format(body="    advert_int 0.123"))
    assert cfg.vrrp_instances[0].advert_int == 0.12
    cfg = parse(tmp_path, v3 + VRRP.format(body="    advert_int 100"))
    assert cfg.vrrp_instances[0].advert_int == 40.95


def test_invalid_garp_intervals_and_extra_block_parameters_warn(tmp_path: Path) -> None:
    text = "global_defs {\n    vrrp_garp_interval 0\n    vrrp_gna_interval 0.5\n}\n"
    text += VRRP.format(body="").replace("virtual_ipaddress {", "virtual_ipaddress dev {")
    cfg = parse(tmp_path, text)
    messages = [(w.line, w.message) for w in cfg.warnings]
    assert (2, "vrrp_garp_interval '0' is invalid: keepalived ignores it") in messages
    assert not [m for line, m in messages if line == 3]  # 0.5 s is valid
    assert any("Block virtual_ipaddress has extra parameters dev" in m for _l, m in messages)
    assert cfg.vrrp_instances[0].virtual_ipaddress[0].address == "10.0.0.100/24"


CORPUS = sorted(
    (Path(__file__).resolve().parent.parent / "data" / "keepalived" / "corpus").glob("*.conf")
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    source=st.sampled_from(CORPUS),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["drop", "repeat", "upper", "lower", "number", "brace"]),
            st.integers(0, 200),
        ),
        max_size=6,
    ),
)
def test_no_traceback_on_mangled_real_world_configs(
    tmp_path: Path, source: Path, edits: list[tuple[str, int]]
) -> None:
    """Corpus configs with lines dropped, repeated, re-cased, numbers pushed out of range and
    braces added: a model (with warnings / errors) or one KeepalivedConfigError line, never a
    traceback; every difference points at a line of the file."""
    lines = source.read_text().splitlines()
    for kind, at in edits:
        if not lines:
            break
        i = at % len(lines)
        if kind == "drop":
            del lines[i]
        elif kind == "repeat":
            lines.insert(i, lines[i])
        elif kind == "upper":
            lines[i] = lines[i].upper()
        elif kind == "lower":
            lines[i] = lines[i].lower()
        elif kind == "number":
            lines[i] = re.sub(r"\b\d+\b", "4294967296", lines[i])
        else:
            lines.insert(i, "}" if at % 2 else "{")
    path = tmp_path / "keepalived.conf"
    path.write_text("\n".join(lines) + "\n")
    try:
        cfg = parse_file(str(path), config_id="high")
    except KeepalivedConfigError as exc:
        assert "\n" not in str(exc)
        return
    for d in cfg.differences:
        assert d.file == str(path) and 1 <= d.line <= len(lines) + 1
    cfg.to_dict()


# -- routes, rules, static addresses (vrrp_iproute.c alloc_route, vrrp_iprule.c alloc_rule) ------


def test_routes_without_dev_are_not_tracked_and_old_words_warn(tmp_path: Path) -> None:
    cfg = parse(
        tmp_path,
        "static_routes {\n    10.9.0.0/16 via 10.0.0.254 dev eth0\n"
        "    10.8.0.0/16 gw 10.0.0.254\n}\n"
        + VRRP.format(
            body="    virtual_routes {\n        10.7.0.0/16 via 10.0.0.1 or 10.0.0.2\n"
            "        blackhole 10.6.0.1/32\n        10.5.0.0/16 no_track\n"
            "        10.4.0./16 dev eth0\n    }"
        ),
    )
    routes = [(r.text.split()[0], r.tracked, r.where.line) for r in cfg.static_routes]
    assert routes == [("10.9.0.0/16", True, 2), ("10.8.0.0/16", False, 3)]
    inst = cfg.vrrp_instances[0]
    # the invalid destination is dropped; blackhole's destination is its second word
    assert [(r.text, r.tracked) for r in inst.virtual_routes] == [
        ("10.7.0.0/16 via 10.0.0.1 or 10.0.0.2", False),
        ("blackhole 10.6.0.1/32", False),
        ("10.5.0.0/16 no_track", True),
    ]
    messages = [(w.line, w.message) for w in cfg.warnings]
    assert (3, "'gw' in a route is deprecated: use 'via'") in messages
    assert (3, "route 10.8.0.0/16 has no interface (dev): keepalived cannot track it") in messages
    assert any(line == 9 and "'or' in a route is deprecated" in m for line, m in messages)
    assert any(line == 10 and "route 10.6.0.1/32 has no interface" in m for line, m in messages)
    assert not [m for line, m in messages if line == 11]  # no_track: nothing to say
    assert (12, "invalid IP address '10.4.0./16': keepalived drops the route") in messages


def test_rules_without_preference_are_numbered_across_the_config(tmp_path: Path) -> None:
    cfg = parse(
        tmp_path,
        "static_rules {\n    from 10.1.0.0/16 table 1\n    to 10.2.0./16 table 1\n"
        "    from 10.3.0.0/16 table 2 priority 100\n    inet6 from 2001:db8::/32 table 3\n}\n"
        + VRRP.format(body="    virtual_rules {\n        to 10.4.0.0/16 table 4\n    }"),
    )
    assert [(r.text.split()[1], r.preference) for r in cfg.static_rules] == [
        ("10.1.0.0/16", 16384),
        ("10.3.0.0/16", 100),
        ("from", 16384),  # IPv6 rules have their own numbering
    ]
    assert [r.preference for r in cfg.vrrp_instances[0].virtual_rules] == [16383]
    messages = [(w.line, w.message) for w in cfg.warnings]
    assert (2, "rule has no preference: keepalived gives it 16384") in messages
    assert any(line == 3 and "invalid IP address '10.2.0./16'" in m for line, m in messages)
    doc = cfg.to_dict()
    assert doc["static_rules"][0] == {"text": "from 10.1.0.0/16 table 1", "line": 2,
                                      "preference": 16384}  # fmt: skip
    assert doc["vrrp_instances"][0]["virtual_rules"][0]["preference"] == 16383


def test_static_ipaddress_is_read(tmp_path: Path) -> None:
    cfg = parse(tmp_path, "static_ipaddress {\n    192.168.1.1/24 dev eth0\n    bogus\n}\n")
    assert [v.address for v in cfg.static_ipaddress] == ["192.168.1.1/24"]
    assert cfg.to_dict()["static_ipaddress"] == ["192.168.1.1/24"]


# -- SMTP_CHECK host blocks (check_smtp.c smtp_check_end_handler) ------------------------------


def test_smtp_hosts_are_checkers_sharing_the_checks_retry(tmp_path: Path) -> None:
    hosts = (
        "        SMTP_CHECK {\n            retry 2\n"
        "            host {\n                connect_ip 10.0.0.21\n                retry 5\n"
        "            }\n            host {\n                connect_ip 10.0.0.22\n            }\n"
        "        }"
    )
    check = parse(tmp_path, vs(rs_body=hosts)).virtual_servers[0].real_servers[0].checks[0]
    # no connection option of its own: the SMTP_CHECK takes the first host's connection, and a
    # host block's retry is the SMTP_CHECK's (the last written wins)
    assert (check.connect_ip, check.retry) == ("10.0.0.21", 5)
    assert [(h.connect_ip, h.retry) for h in check.hosts] == [("10.0.0.22", 5)]
    with_own = hosts.replace("retry 2", "retry 2\n            connect_timeout 9")
    cfg = parse(tmp_path, vs(rs_body=with_own))
    check = cfg.virtual_servers[0].real_servers[0].checks[0]
    assert check.connect_ip is None and [h.connect_ip for h in check.hosts] == [
        "10.0.0.21",
        "10.0.0.22",
    ]
    assert any("SMTP_CHECK host blocks are deprecated" in w.message for w in cfg.warnings)


# -- scripts keepalived cannot find (notify.c check_script_secure) -------------------------------


def test_missing_track_script_is_disabled_and_untracked(tmp_path: Path) -> None:
    text = (
        "vrrp_script chk_gone {\n    script /nonexistent/check.sh\n}\n"
        "vrrp_script chk_ok {\n    script /bin/true\n}\n"
        + VRRP.format(body="    track_script {\n        chk_gone\n        chk_ok\n    }")
    )
    cfg = parse(tmp_path, text)
    assert [t.name for t in cfg.vrrp_instances[0].track_script] == ["chk_ok"]
    assert diffs(cfg, "track_script") == [("chk_gone", None)]
    messages = [w.message for w in cfg.warnings]
    assert any("vrrp_script chk_gone" in m and "keepalived disables it" in m for m in messages)
    assert any("'/nonexistent/check.sh' cannot be accessed" in m for m in messages)


def test_file_open_checks_and_path_searches(tmp_path: Path) -> None:
    text = (
        'vrrp_script chk_port {\n    script "</dev/tcp/127.0.0.1/80"\n}\n'
        "vrrp_script chk_name {\n    script true\n}\n"
        + VRRP.format(body="    track_script {\n        chk_port\n        chk_name\n    }")
    )
    cfg = parse(tmp_path, text)
    assert [t.name for t in cfg.vrrp_instances[0].track_script] == ["chk_port", "chk_name"]
    messages = [w.message for w in cfg.warnings]
    assert any("script 'true' resolved by a PATH search to '/" in m for m in messages)
    assert not any("/dev/tcp" in m for m in messages)


# -- the host keepalived starts on -------------------------------------------------------------


def test_instance_without_an_address_on_its_interface_starts_in_fault(tmp_path: Path) -> None:
    from lvstop.model.keepalived import HostInterface

    host = {
        "eth0": HostInterface("eth0", True, frozenset({"inet6"})),
        "eth1": HostInterface("eth1", False, frozenset({"inet", "inet6"})),
    }
    path = tmp_path / "keepalived.conf"
    path.write_text(VRRP.format(body=""))
    inst = parse_file(str(path), config_id="x", interfaces=host).vrrp_instances[0]
    assert inst.fault == "no IPv4 address on eth0"
    assert inst.to_dict()["fault"] == "no IPv4 address on eth0"
    # a source address of its own: no need for one on the interface
    path.write_text(VRRP.format(body="    unicast_src_ip 10.0.0.9"))
    assert parse_file(str(path), config_id="x", interfaces=host).vrrp_instances[0].fault is None
    # a tracked interface (weight 0) down
    host["eth0"] = HostInterface("eth0", True, frozenset({"inet"}))
    path.write_text(VRRP.format(body="    track_interface {\n        eth1\n    }"))
    inst = parse_file(str(path), config_id="x", interfaces=host).vrrp_instances[0]
    assert inst.fault == "tracked interface eth1 is down"
    path.write_text(VRRP.format(body="    track_interface {\n        eth1 weight 10\n    }"))
    assert parse_file(str(path), config_id="x", interfaces=host).vrrp_instances[0].fault is None
    # the host not known: nothing judged
    assert parse_file(str(path), config_id="x").vrrp_instances[0].fault is None


def test_interfaces_the_host_does_not_have(tmp_path: Path) -> None:
    from lvstop.model.keepalived import HostInterface

    host = {"eth0": HostInterface("eth0", True, frozenset({"inet", "inet6"}))}
    path = tmp_path / "keepalived.conf"
    # vrrp_if.c / vrrp_daemon.c: no such interface is dropped, and keepalived's VRRP process
    # exits right after reading the config (no load-time rules: nothing about state MASTER)
    path.write_text(
        VRRP.format(body="    state MASTER\n    nopreempt").replace(
            "interface eth0", "interface ens192"
        )
    )
    cfg = parse_file(str(path), config_id="x", interfaces=host)
    assert diffs(cfg, "interface") == [("ens192", None)]
    assert cfg.differences[0].line == 2
    assert [e.message for e in cfg.errors] == [
        "an interface named in the config does not exist on this host (Non-existent interface "
        "specified in configuration): keepalived's VRRP process exits"
    ]
    assert not [w for w in cfg.warnings if "nopreempt" in w.message]
    # an address's dev: the address is dropped, and the same exit
    path.write_text(VRRP.format(body="").replace("10.0.0.100/24", "10.0.0.100/24 dev ens192"))
    cfg = parse_file(str(path), config_id="x", interfaces=host)
    assert cfg.vrrp_instances[0].virtual_ipaddress == () and len(cfg.errors) == 1
    # dynamic_interfaces: keepalived waits for it to appear
    path.write_text(
        "global_defs {\n    dynamic_interfaces\n}\n"
        + VRRP.format(body="").replace("interface eth0", "interface ens192")
    )
    assert not parse_file(str(path), config_id="x", interfaces=host).errors
    # vrrp_track.c alloc_track_if: a tracked interface it does not have is not tracked (and
    # the VRRP process exits just the same; corpus 95 and 96 recorded it)
    path.write_text(VRRP.format(body="    track_interface {\n        bond0\n    }"))
    cfg = parse_file(str(path), config_id="x", interfaces=host)
    assert cfg.vrrp_instances[0].track_interface == ()
    assert diffs(cfg, "track_interface") == [("bond0", None)]
    assert cfg.differences[0].line == 5
    assert len(cfg.errors) == 1


# -- any input: a model or one LvstopError line, never another exception ---------------------------

_KEYWORDS = sorted(KNOWN_KEYWORDS)
_WORDS = st.one_of(
    st.sampled_from(_KEYWORDS),
    st.sampled_from(["{", "}", "!", "#", '"', "include", "$X=1", "$X", "~SEQ(i,1,3)", "@high"]),
    st.sampled_from(["10.0.0.1", "10.0.0.1/24", "2001:db8::1", "80", "-1", "4294967296", "0.5"]),
    st.text(min_size=1, max_size=12),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.lists(_WORDS, max_size=6).map(" ".join), max_size=40),
    junk=st.binary(max_size=200),
)
def test_no_exception_but_lvstop_errors_on_random_keywords_and_bytes(
    tmp_path: Path, lines: list[str], junk: bytes
) -> None:
    """Random keyword soup and random bytes: a model (to_dict works), or an LvstopError whose
    message is one line; never any other exception."""
    path = tmp_path / "keepalived.conf"
    for data in ("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n", junk):
        path.write_bytes(data)
        try:
            cfg = parse_file(str(path), config_id="high", interfaces={})
        except LvstopError as exc:
            assert str(exc) and "\n" not in str(exc)
            continue
        cfg.to_dict()


def test_instance_garp_numbers_as_the_running_keepalived_reads_them(tmp_path: Path) -> None:
    body = (
        "    garp_master_delay 5\n    garp_master_repeat 0\n    garp_lower_prio_delay 42949673\n"
        "    garp_lower_prio_repeat -1\n    down_timer_adverts 200\n    garp_master_refresh 7x"
    )
    cfg = parse(tmp_path, VRRP.format(body=body))
    messages = {w.line: w.message for w in cfg.warnings}
    assert 4 not in messages  # 5 is fine
    assert (
        messages[5]
        == "vrrp_instance VI_1: garp_master_repeat must be greater than 0: keepalived uses 1"
    )
    assert "garp_lower_prio_delay '42949673' invalid (outside 0..4294)" in messages[6]
    assert "invalid garp_lower_prio_repeat '-1'" in messages[7]
    assert "invalid down_timer_adverts [1:100] '200'" in messages[8]
    # strtoul reads the leading digits; the running keepalived takes them (with a warning)
    assert messages[9] == (
        "vrrp_instance VI_1: garp_master_refresh '7x' is not a number: keepalived reads 7"
    )
