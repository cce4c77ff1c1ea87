"""Which keepalived is installed, and whether lvstop's 2.2.7 rules fit it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lvstop.sources.keepalived_version import judge, parse_version, read_version, trusted_binary


def test_parse_and_judge() -> None:
    assert parse_version("Keepalived v2.2.7 (01/16,2022)\n\nCopyright(C) 2001-2022") == "2.2.7"
    assert parse_version("no version here") is None
    assert judge("2.2.7") is None and judge("2.2.8") is None
    assert "outside the 2.x range" in (judge("1.3.5") or "")
    assert "outside the 2.x range" in (judge("3.0.0") or "")
    assert "2.x releases" in (judge("2.0.20") or "")
    assert "no version" in (judge(None) or "")


def test_only_root_owned_regular_files_not_writable_by_others(tmp_path: Path) -> None:
    fake = tmp_path / "keepalived"
    fake.write_text("#!/bin/sh\necho 'Keepalived v1.4.2 (x)' >&2\n")
    fake.chmod(0o755)
    owned_by_root = os.stat(fake).st_uid == 0
    assert trusted_binary((str(tmp_path / "missing"), str(tmp_path), str(fake))) == (
        str(fake) if owned_by_root else None
    )
    fake.chmod(0o757)  # world-writable: anyone could replace what root would run
    assert trusted_binary((str(fake),)) is None
    fake.chmod(0o755)
    if owned_by_root:
        got = read_version(str(fake))
        assert (got.binary, got.version) == (str(fake), "1.4.2")
        assert got.warning and "outside the 2.x range" in got.warning
        assert got.to_dict()["rules"] == "2.2.7"


@pytest.mark.skipif(trusted_binary() is None, reason="no keepalived installed on this host")
def test_the_installed_keepalived() -> None:
    got = read_version()
    assert got.binary == trusted_binary()
    assert got.version is not None and got.version.startswith("2.")
    assert shutil.which("keepalived") is not None
