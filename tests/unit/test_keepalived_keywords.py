"""keepalived_conf's keyword tables: each entry is a keyword keepalived 2.2.7 has in that
block, sets a field the model has, and its warning text can be filled in."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lvstop.model.keepalived import (
    Check,
    GlobalDefs,
    RealServer,
    Statement,
    VirtualServer,
    VrrpInstance,
    VrrpScript,
    Where,
)
from lvstop.sources import keepalived_conf as kc

#: table, the block's keywords in keepalived 2.2.7, the model class its fields belong to
TABLES: list[tuple[str, dict[str, kc.Keyword[Any]], frozenset[str] | None, type]] = [
    ("global_defs", kc.GLOBAL_DEFS_TABLE, None, GlobalDefs),
    ("vrrp_instance", kc.VRRP_INSTANCE_TABLE, kc.VRRP_INSTANCE_KEYWORDS, VrrpInstance),
    ("vrrp_script", kc.VRRP_SCRIPT_TABLE, None, VrrpScript),
    ("virtual_server", kc.VIRTUAL_SERVER_TABLE, kc.VS_KEYWORDS, VirtualServer),
    ("real_server", kc.REAL_SERVER_TABLE, kc.RS_KEYWORDS, RealServer),
    (
        "checker",
        kc.CHECKER_TABLE,
        frozenset().union(*kc.CHECKER_KEYWORDS.values()),
        Check,
    ),
]


@pytest.mark.parametrize(("name", "table", "allowed", "model"), TABLES, ids=[t[0] for t in TABLES])
def test_table_keywords_are_keepalived_ones(
    name: str, table: dict[str, kc.Keyword[Any]], allowed: frozenset[str] | None, model: type
) -> None:
    fields = {f.name for f in dataclasses.fields(model)}
    for keyword, entry in table.items():
        assert keyword in kc.KNOWN_KEYWORDS, keyword
        if allowed is not None:
            assert keyword in allowed, f"{keyword} is not a {name} keyword in keepalived 2.2.7"
        # "" writes no field (the converter keeps what it reads elsewhere); "_name" is read
        # by the block's function before the model is built
        if entry.field and not entry.field.startswith("_"):
            assert entry.field in fields, f"{name} {keyword}: {model.__name__} has no {entry.field}"


@pytest.mark.parametrize(("name", "table", "allowed", "model"), TABLES, ids=[t[0] for t in TABLES])
def test_table_warnings_fill_in(
    name: str, table: dict[str, kc.Keyword[Any]], allowed: frozenset[str] | None, model: type
) -> None:
    model_obj = kc._Model([])
    for keyword, entry in table.items():
        sub = Statement((keyword, "x{y}", "z"), Where("k.conf", 3))
        text = entry.message(model_obj, sub, "vrrp_instance VI_1")
        # every placeholder is filled in, and the written words go in as they are (a brace
        # in a config word is never read as a template)
        assert "{" not in text.replace("x{y}", ""), f"{name} {keyword}: {text!r}"
        if "{words}" in entry.warning:
            assert "x{y} z" in text
        if "{subject}" in entry.warning:
            assert "vrrp_instance VI_1" in text


def test_rejected_values_draw_keepalived_warning_and_keep_the_earlier_one(tmp_path: Any) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(
        "virtual_server 10.0.0.1 80 {\n"
        "  protocol TCP\n  quorum 2\n  quorum zero\n  lb_algo rr\n  lb_algo fancy\n"
        "  real_server 10.0.0.2 80 {\n    weight 3\n    weight -1\n  }\n}\n"
    )
    cfg = kc.parse_file(str(conf))
    vs = cfg.virtual_servers[0]
    assert (vs.quorum, vs.lb_algo, vs.real_servers[0].weight) == (2, "rr", 3)
    messages = [w.message for w in cfg.warnings]
    assert "quorum 'zero' invalid: keepalived ignores it" in messages
    assert "virtual_server 10.0.0.1:80: invalid lvs_scheduler 'fancy' - keepalived ignores it" in (
        messages
    )
    assert "real server weight -1 is outside range 0-2147483647: keepalived ignores it" in (
        messages
    )
