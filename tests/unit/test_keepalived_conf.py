"""keepalived.conf parser: the corpus, every syntax feature, and malformed input."""

from __future__ import annotations

import os
from pathlib import Path

import keepalived_samples as ks
import pytest

from lvstop.sources.keepalived_conf import (
    KeepalivedConfigError,
    decomment,
    parse_file,
    split_braces,
    split_words,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "keepalived"
#: keepalived's own samples, from the installed package (tests/keepalived_samples.py)
SAMPLES = [ks.sample(name) for name in ks.sample_names()]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_corpus_is_complete() -> None:
    assert len(SAMPLES) == 25


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_every_sample_parses(sample: Path) -> None:
    cfg = parse_file(str(sample), config_id="high")
    assert cfg.files == (str(sample),)
    assert cfg.vrrp_instances or cfg.virtual_servers
    # the only warnings in the samples are ones keepalived gives too (its -t output and log
    # are recorded in tests/data/keepalived/samples-oracle and compared both ways by
    # test_keepalived_conf_oracle.py): "protocol specified for fwmark", "Unknown keyword
    # 'VI_2'", "(VI_1) Initial state master is incompatible with AH authentication -
    # clearing", "(VI_1) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.",
    # routes and rules, scripts this host does not have, SMTP_CHECK host blocks
    for warning in cfg.warnings:
        assert (
            "protocol is ignored for fwmark" in warning.message
            or "wants instance names inside 'group { }'" in warning.message
            or "incompatible with AH authentication" in warning.message
            or "lvs_sync_daemon_interface in a vrrp_instance is deprecated" in warning.message
            # "Sync group VG1 has no virtual router(s). removing"
            or "a sync group without vrrp instances" in warning.message
            # keepalived.conf.vrrp.localcheck: "SECURITY VIOLATION - scripts are being executed
            # but script_security not enabled." (killall is installed)
            or "SECURITY VIOLATION" in warning.message
            # "Warning - cannot track route ... with no interface specified", '"gw" for routes
            # is deprecated', '"or" for routes ...', "Rule has no preference specified",
            # "VRRP parsed invalid IP 192.168.100./24. skipping IP..."
            or "has no interface (dev): keepalived cannot track it" in warning.message
            or "in a route is deprecated" in warning.message
            or "rule has no preference" in warning.message
            or "invalid IP address '192.168.100./24'" in warning.message
            or "invalid IP address '192.168.200./24'" in warning.message
            # "Script /usr/local/bin/vrrp.sh cannot be accessed", "Disabling track script ...
            # since not found/accessible", "Disabling misc script ...", "resolved by path search"
            or "cannot be accessed: keepalived does not run it" in warning.message
            or "not found or not executable" in warning.message
            or "resolved by a PATH search" in warning.message
            # "The SMTP_CHECK host block is deprecated. Please define additional checkers."
            or "SMTP_CHECK host blocks are deprecated" in warning.message
        ), str(warning)
    assert not cfg.errors


def test_sample_model_details() -> None:
    cfg = parse_file(str(ks.sample("keepalived.conf.vrrp")), config_id="x")
    assert cfg.router_id == "LVS_DEVEL"
    vi1 = cfg.instance("VI_1")
    assert vi1 is not None
    assert (vi1.state, vi1.interface, vi1.virtual_router_id, vi1.priority) == (
        "MASTER",
        "eth0",
        51,
        100,
    )
    assert vi1.auth_type == "PASS" and vi1.auth_pass == "1111"
    assert [v.address for v in vi1.virtual_ipaddress] == [
        "192.168.200.16/32",
        "192.168.200.17/32",
        "192.168.200.18/32",
        "192.168.200.18/32",
    ]
    assert vi1.virtual_ipaddress[3].label == "eth0:1"
    vi2 = cfg.instance("VI_2")
    # no state written: keepalived starts it as BACKUP (priority below 255)
    assert vi2 is not None and vi2.state == "BACKUP" and vi2.auth_type is None


def test_checkers_and_quorum() -> None:
    cfg = parse_file(str(ks.sample("keepalived.conf.SMTP_CHECK")), config_id="x")
    (vs,) = cfg.virtual_servers
    rs = vs.real_servers[2]
    (check,) = rs.checks
    assert check.type == "SMTP_CHECK" and check.param("helo_name") == "foo.bar.com"
    assert [h.connect_ip for h in check.hosts] == [
        "172.16.1.12",
        "192.168.155.11",
        "64.233.167.100",
    ]
    assert check.hosts[2].connect_port == 587
    cfg = parse_file(str(ks.sample("keepalived.conf.quorum")), config_id="x")
    (vs,) = cfg.virtual_servers
    assert (vs.quorum, vs.hysteresis, vs.alpha, vs.omega) == (7, 2, True, True)
    assert vs.quorum_up == "/usr/local/sbin/quorum-up.sh"
    assert len(vs.real_servers) == 10
    cfg = parse_file(str(ks.sample("keepalived.conf.status_code")), config_id="x")
    urls = cfg.virtual_servers[0].real_servers[0].checks[0].urls
    assert urls[0].status_code == "200-299 400-499 503 505"
    assert urls[1].digest == "9b3a0c85a887a256d6939da88aabd8cd"


def test_groups_fwmark_sorry_inhibit() -> None:
    cfg = parse_file(str(ks.sample("keepalived.conf.virtual_server_group")))
    (vs,) = cfg.virtual_servers
    assert vs.group == "VSG_1" and vs.address is None
    group = cfg.group("VSG_1")
    assert group is not None
    assert group.entries[3].address == "192.168.200.3"
    assert group.entries[3].address_last == "192.168.200.10"
    assert len(group.entries[3].addresses()) == 8
    assert [e.fwmark for e in group.entries[4:]] == [1, 2]
    cfg = parse_file(str(ks.sample("keepalived.conf.fwmark")))
    assert cfg.virtual_servers[0].fwmark == 1
    # no port written under a fwmark: keepalived's port 0
    assert cfg.virtual_servers[0].real_servers[0].port == 0
    cfg = parse_file(str(ks.sample("keepalived.conf.sample")))
    vs = cfg.virtual_servers[0]
    assert vs.sorry_server is not None and vs.sorry_server.port == 1358
    assert cfg.vrrp_instances[0].nopreempt
    cfg = parse_file(str(ks.sample("keepalived.conf.inhibit")))
    assert cfg.virtual_servers[0].real_servers[0].inhibit_on_failure


def test_conditional_config_id() -> None:
    path = str(ks.sample("keepalived.conf.conditional_conf"))
    high = parse_file(path, config_id="high")
    low = parse_file(path, config_id="low")
    other = parse_file(path, config_id="neither")
    assert high.vrrp_instances[0].priority == 170
    assert low.vrrp_instances[0].priority == 85
    assert other.vrrp_instances[0].priority == 100  # keepalived's default
    assert high.global_defs.net_namespace == "high"
    assert other.global_defs.net_namespace is None
    assert high.vrrp_scripts[0].script == "/etc/keepalived/scripts/check_high_VI_0.sh"
    assert high.vrrp_instances[0].version == 3
    assert [t.to_dict() for t in high.vrrp_instances[0].track_interface] == [
        {"name": "eth3", "weight": None},
        {"name": "eth2", "weight": 20},
    ]


def test_not_conditional(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "k.conf",
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n"
        "@^d1 priority 50\n@d1 priority 150\n}\n",
    )
    assert parse_file(str(path), config_id="d1").vrrp_instances[0].priority == 150
    assert parse_file(str(path), config_id="d2").vrrp_instances[0].priority == 50


def test_default_config_id_is_short_host_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "d1.example.net")
    path = write(tmp_path, "k.conf", "global_defs {\n@d1 router_id ONE\n@^d1 router_id OTHER\n}\n")
    assert parse_file(str(path)).router_id == "ONE"


def test_comments_quotes_and_braces() -> None:
    assert decomment('  script "a # b" # c') == ('script "a # b"', False, False)
    assert decomment("x \\# y ! z") == ("x # y", False, False)
    assert decomment('a "open')[2] is True
    assert split_braces('vrrp_instance VI_1 { state "{x}" }') == [
        "vrrp_instance VI_1",
        "{",
        'state "{x}"',
        "}",
    ]
    assert split_words('notify "/bin/x  a b" c') == (["notify", "/bin/x  a b", "c"], False)


def test_one_line_blocks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "k.conf",
        "vrrp_instance V{state BACKUP;interface e0}\n"
        "vrrp_instance W { interface e0\n virtual_router_id 9\n authentication { auth_type AH\n"
        "auth_pass x } virtual_ipaddress { 10.0.0.1/24 dev e0 } }\n",
    )
    cfg = parse_file(str(path))
    w = cfg.instance("W")
    assert w is not None
    assert w.auth_type == "AH" and w.virtual_ipaddress[0].address == "10.0.0.1/24"
    # "state BACKUP;interface" is one word sequence to keepalived: state is 'BACKUP;interface',
    # unknown, so BACKUP (and V has no interface: keepalived's VRRP process would exit)
    assert any("unknown state 'BACKUP;interface'" in x.message for x in cfg.warnings)
    assert [e.message for e in cfg.errors if "vrrp_instance V:" in e.message]


def test_definitions_and_sequences(tmp_path: Path) -> None:
    text = (
        "$PORT=8888\n"
        "$RS_BODY=weight 2 \\\n"
        "    TCP_CHECK { connect_port $PORT }\n"
        "\n"
        "virtual_server 10.0.5.96 ${PORT} {\n"
        "  lb_kind DR\n"
        "  ~SEQ(n, 91, 93) real_server 10.0.5.$n $PORT { weight $n }\n"
        "  ~SEQx(h, 10, 11) real_server 2001:db8::$h 80 { weight 1 }\n"
        "  ~LST(ip, 10.0.6.1, 10.0.6.2) real_server $ip 81 { weight 3 }\n"
        "  real_server 10.0.7.1 80 {\n"
        "    $RS_BODY\n"
        "  }\n"
        "}\n"
    )
    cfg = parse_file(str(write(tmp_path, "k.conf", text)))
    (vs,) = cfg.virtual_servers
    assert vs.port == 8888
    got = [(rs.address, rs.port, rs.weight) for rs in vs.real_servers]
    assert got[:3] == [("10.0.5.91", 8888, 91), ("10.0.5.92", 8888, 92), ("10.0.5.93", 8888, 93)]
    # keepalived skips IPv6 real servers of an IPv4 DR service, and gives DR real servers the
    # virtual server's port
    assert got[3:5] == [("10.0.6.1", 8888, 3), ("10.0.6.2", 8888, 3)]
    last = vs.real_servers[-1]
    assert (last.address, last.weight) == ("10.0.7.1", 2)
    assert last.checks[0].connect_port == 8888
    dropped = [d.written for d in cfg.differences if d.effective is None]
    assert dropped == ["2001:db8::a", "2001:db8::b"]
    ports = [(d.subject, d.written, d.effective) for d in cfg.differences if d.field == "port"]
    assert [p[1:] for p in ports] == [("81", "8888"), ("81", "8888"), ("80", "8888")]
    # the definitions themselves gave nothing to warn about: only keepalived's own rules did
    assert not [w for w in cfg.warnings if "SEQ" in w.message or "definition" in w.message]


def test_include_relative_glob_and_braces(tmp_path: Path) -> None:
    write(tmp_path, "etc/keepalived.conf", "include conf.d/*.conf\ninclude {a,b}.inc\n")
    write(tmp_path, "etc/conf.d/20-vs.conf", "virtual_server 10.0.0.1 80 {\n include rs.d/*\n}\n")
    write(tmp_path, "etc/conf.d/rs.d/one", "real_server 10.0.1.1 80 {\n weight 5\n}\n")
    write(
        tmp_path,
        "etc/conf.d/10-vrrp.conf",
        "vrrp_instance A {\n interface e\n virtual_router_id 7\n}\n",
    )
    write(tmp_path, "etc/a.inc", "global_defs {\n router_id A\n}\n")
    write(tmp_path, "etc/b.inc", "! nothing\n")
    cfg = parse_file(str(tmp_path / "etc" / "keepalived.conf"))
    assert [os.path.relpath(f, tmp_path) for f in cfg.files] == [
        "etc/keepalived.conf",
        "etc/conf.d/10-vrrp.conf",
        "etc/conf.d/20-vs.conf",
        "etc/conf.d/rs.d/one",
        "etc/a.inc",
        "etc/b.inc",
    ]
    assert cfg.virtual_servers[0].real_servers[0].weight == 5
    assert cfg.virtual_servers[0].real_servers[0].where.file.endswith("rs.d/one")
    assert cfg.router_id == "A"
    # a glob that matches nothing is only a warning, as in keepalived
    write(tmp_path, "etc/empty.conf", "include nothing-here/*.conf\n")
    cfg = parse_file(str(tmp_path / "etc" / "empty.conf"))
    assert "no config files matched" in cfg.warnings[0].message


def test_unknown_keywords_kept_and_reported(tmp_path: Path) -> None:
    text = (
        "global_defs {\n  router_id X\n  frobnicate 3\n}\n"
        "bogus_block {\n  a b\n}\n"
        "virtual_server 10.0.0.1 80 {\n  nat_mask 255.255.255.0\n"
        "  real_server 10.0.0.2 80 {\n    connect_port 80\n  }\n}\n"
    )
    cfg = parse_file(str(write(tmp_path, "k.conf", text)))
    msgs = [(w.line, w.message) for w in cfg.warnings]
    assert (3, "unknown keyword 'frobnicate' in global_defs") in msgs
    assert (5, "unknown keyword 'bogus_block'") in msgs
    assert (9, "unknown keyword 'nat_mask' in virtual_server 10.0.0.1:80") in msgs
    assert any(line == 11 and "'connect_port' is not valid in real_server" in m for line, m in msgs)
    assert cfg.extra[0].keyword == "bogus_block"
    assert cfg.extra[0].block is not None and cfg.extra[0].block[0].words == ("a", "b")
    assert cfg.global_defs.extra[0].words == ("frobnicate", "3")


# -- malformed input: one clean line with file and line ---------------------------------------


def one_line_error(path: Path) -> KeepalivedConfigError:
    with pytest.raises(KeepalivedConfigError) as info:
        parse_file(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{info.value.file}:{info.value.line}: ")
    return info.value


def test_unclosed_brace(tmp_path: Path) -> None:
    # keepalived runs it ("There are 1 missing '}'s or extra '{'s"): so does lvstop, and warns
    cfg = parse_file(
        str(
            write(
                tmp_path,
                "k.conf",
                "global_defs {\n}\nvrrp_instance A {\n"
                "  interface e\n  virtual_router_id 5\n  virtual_ipaddress {\n   1.2.3.4\n}\n",
            )
        )
    )
    (warning,) = [w for w in cfg.warnings if "never closed" in w.message]
    assert warning.line == 3 and "missing '}'" in warning.message
    assert [v.address for v in cfg.vrrp_instances[0].virtual_ipaddress] == ["1.2.3.4/32"]


def test_extra_brace(tmp_path: Path) -> None:
    # keepalived: "Extra '}' found", then it reads on
    text = "global_defs {\n}\n}\nglobal_defs {\n router_id X\n}\n"
    cfg = parse_file(str(write(tmp_path, "k.conf", text)))
    assert [(w.line, w.message) for w in cfg.warnings] == [
        (3, "extra '}' (no block is open): keepalived ignores it")
    ]
    assert cfg.router_id == "X"


def test_missing_include_is_a_warning(tmp_path: Path) -> None:
    # keepalived 2.2.7: "(Line 2) Config files missing '/nonexistent/file.conf'." and reads on
    cfg = parse_file(
        str(
            write(
                tmp_path,
                "k.conf",
                "! x\ninclude /nonexistent/file.conf\nglobal_defs {\n  router_id X\n}\n",
            )
        )
    )
    assert cfg.router_id == "X"
    assert [(w.line, w.message) for w in cfg.warnings] == [
        (2, "include: no such file /nonexistent/file.conf; keepalived reads on without it")
    ]


def test_include_loop(tmp_path: Path) -> None:
    write(tmp_path, "b.conf", "\n\ninclude a.conf\n")
    err = one_line_error(write(tmp_path, "a.conf", "include b.conf\n"))
    assert err.file.endswith("b.conf") and err.line == 3
    assert "include loop" in err.message


def test_binary_junk(tmp_path: Path) -> None:
    path = tmp_path / "junk.conf"
    path.write_bytes(b"global_defs {\n}\n" + bytes(range(256)) * 4)
    err = one_line_error(path)
    assert err.line == 3 and "binary" in err.message
    path.write_bytes(b"router_id \xff\xfe\n")
    assert "binary" in one_line_error(path).message


def test_long_line_is_read_in_pieces_as_keepalived_does(tmp_path: Path) -> None:
    # keepalived 2.2.7 -t on these two lines says: Unknown keyword 'y…yZ' (1,023 bytes), 'ZZ',
    # 'y…yWW', 'W': fgets(MAXBUF = 1024) pieces, each a line of its own
    text = "global_defs {\n" + "y" * 1022 + "ZZZ\n" + "y" * 1021 + "WWW\n  router_id X\n}\n"
    cfg = parse_file(str(write(tmp_path, "k.conf", text)))
    assert cfg.router_id == "X"
    unknown = [w.message for w in cfg.warnings if "unknown keyword" in w.message.lower()]
    assert len(unknown) == 4
    assert [m for m in unknown if "'ZZ'" in m or "'W'" in m] and len(cfg.warnings) == 6


def test_ten_megabytes_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "big.conf"
    path.write_bytes(b"! header\n" + b"x" * (10 * 1024 * 1024))
    cfg = parse_file(str(path))
    assert cfg.warnings[0].line == 2 and "in pieces of 1023 bytes" in cfg.warnings[0].message


def test_ten_megabytes_of_config(tmp_path: Path) -> None:
    rs = "".join(
        f"  real_server 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256} 80 {{\n"
        "    weight 1\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n"
        for i in range(120_000)
    )
    text = f"virtual_server 10.0.0.1 80 {{\n{rs}}}\n"
    assert len(text) > 10 * 1024 * 1024
    cfg = parse_file(str(write(tmp_path, "big.conf", text)))
    # parsed completely and correctly (its time is bench/bench_keepalived_conf.py's figure)
    # keepalived's defaults for what the virtual server leaves out (no lb_kind, lb_algo,
    # protocol) at its line 1; nothing about any of the real servers
    assert {w.line for w in cfg.warnings} | {d.line for d in cfg.differences} == {1}
    (vs,) = cfg.virtual_servers
    assert (vs.address, vs.port, vs.quorum) == ("10.0.0.1", 80, 1)
    assert len(vs.real_servers) == 120_000
    assert len({rs.address for rs in vs.real_servers}) == 120_000
    for i in (0, 65_536, 119_999):
        real = vs.real_servers[i]
        assert real.address == f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        assert (real.port, real.weight, real.where.line) == (80, 1, 2 + 6 * i)
        (check,) = real.checks
        assert (check.type, check.connect_timeout, check.retry) == ("TCP_CHECK", 3.0, 1)


def test_too_large_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.conf"
    line = b"! " + b"y" * 1000 + b"\n"
    path.write_bytes(line * (33 * 1024))
    err = one_line_error(path)
    assert "larger than" in err.message and err.line > 1


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(KeepalivedConfigError, match="no such file"):
        parse_file(str(tmp_path / "nope.conf"))
    with pytest.raises(KeepalivedConfigError, match="is a directory"):
        parse_file(str(tmp_path))


def test_unterminated_quote(tmp_path: Path) -> None:
    err = one_line_error(write(tmp_path, "k.conf", 'vrrp_script s {\n script "/bin/true\n}\n'))
    assert err.line == 2 and "quote" in err.message


def test_recursive_definition(tmp_path: Path) -> None:
    err = one_line_error(write(tmp_path, "k.conf", "$A=x $A\nglobal_defs {\n router_id $A\n}\n"))
    assert err.line == 3 and "recursive" in err.message


def test_features_config() -> None:
    path = str(DATA / "features" / "main.conf")
    high = parse_file(path, config_id="high")
    low = parse_file(path, config_id="low")
    assert not high.warnings and not low.warnings
    assert high.router_id == "FEATURES lab"
    assert [os.path.basename(f) for f in high.files] == [
        "main.conf",
        "10-second.conf",
        "vrrp.inc",
        "extra.inc",
    ]
    assert [i.name for i in high.vrrp_instances] == ["VI_FEATURES", "VI_HIGH_ONLY"]
    assert [i.name for i in low.vrrp_instances] == ["VI_FEATURES"]
    vi = high.vrrp_instances[0]
    assert (vi.priority, low.vrrp_instances[0].priority) == (150, 50)
    assert vi.auth_pass == "pa ss"
    # keepalived decomments a line again after expanding ${VIP}: the escaped "\#" becomes a
    # comment then, so the label is "eth0:" (its own dump says so too)
    assert [(v.address, v.label) for v in vi.virtual_ipaddress] == [
        ("10.0.9.1/24", "eth0:"),
        ("10.0.9.5/32", None),
    ]
    second, first = high.virtual_servers
    assert (second.persistence_timeout, low.virtual_servers[0].persistence_timeout) == (300, 30)
    assert [rs.address for rs in second.real_servers] == ["10.0.10.10", "10.0.10.15", "10.0.10.20"]
    assert [(rs.address, rs.weight) for rs in first.real_servers] == [
        ("10.0.9.11", 1),
        ("10.0.9.12", 2),
        ("10.0.9.13", 3),
        ("10.0.9.30", 4),
        ("10.0.9.31", 4),
        ("10.0.9.20", 7),
    ]
    check = first.real_servers[-1].checks[0]
    assert (check.type, check.connect_timeout, check.retry) == ("TCP_CHECK", 2.0, 2)


def test_notes_config_with_double_slash_remarks() -> None:
    cfg = parse_file(str(DATA / "notes" / "ds-master.conf"), config_id="x")
    assert cfg.router_id == "LVS_DEVEL_master"
    (vi1,) = cfg.vrrp_instances
    # vrrp_strict: state MASTER must match being address owner (priority 255), so BACKUP
    assert (vi1.state, vi1.interface, vi1.virtual_router_id, vi1.priority) == (
        "BACKUP",
        "enp10s0",
        51,
        100,
    )
    assert [(d.field, d.written, d.effective) for d in cfg.differences if d.field == "state"] == [
        ("state", "MASTER", "BACKUP")
    ]
    assert [v.address for v in vi1.virtual_ipaddress] == ["10.0.5.96/20"]
    assert cfg.global_defs.vrrp_strict
    slashes = [w.line for w in cfg.warnings if "'//' does not start a comment" in w.message]
    assert slashes[:2] == [4, 5] and len(slashes) == 9
    assert (30, "virtual address '//虚拟ip' is not an IP address") in [
        (w.line, w.message) for w in cfg.warnings
    ]
