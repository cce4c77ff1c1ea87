"""The config file (lvstop.settings) and its merge under the flags of `lvstop top`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lvstop import settings
from lvstop.commands import top
from lvstop.errors import LvstopError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lvstop.toml"
    path.write_text(text, encoding="utf-8")
    return path


def top_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    top.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_full_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'read_only = true\ninterval = 2\niface = "eth1"\n'
        'theme = "nord"\nincident_dir = "/var/tmp/x"\n',
    )
    conf = settings.load(path)
    assert conf == settings.Settings(
        read_only=True,
        interval=2.0,
        iface=("eth1",),
        theme="nord",
        incident_dir=Path("/var/tmp/x"),
        path=path,
    )
    assert settings.load(write(tmp_path, 'iface = ["eth0", "eth1"]\n')).iface == ("eth0", "eth1")


def test_missing_default_file_is_defaults_but_a_named_one_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    monkeypatch.setattr(settings, "DEFAULT_PATH", tmp_path / "absent.toml")
    assert settings.load() == settings.Settings()
    monkeypatch.setenv(settings.ENV_VAR, str(tmp_path / "nope.toml"))
    with pytest.raises(LvstopError, match=r"nope\.toml: no such file"):
        settings.load()


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "read_only = true\n")
    monkeypatch.setenv(settings.ENV_VAR, str(path))
    assert settings.load().read_only is True


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("interval = 1\nread_only = yes\n", r"lvstop\.toml:2: Invalid value"),
        ("interval = 1\n\n[x\n", r"lvstop\.toml:3: "),
        ("read_only = 1\n", r"lvstop\.toml:1: read_only must be true or false"),
        ("\ninterval = 0\n", r"lvstop\.toml:2: interval must be a number of seconds, 0\.1 to 3600"),
        ("interval = true\n", r"lvstop\.toml:1: interval must be"),
        ("iface = [1]\n", r"lvstop\.toml:1: iface must be"),
        ("theme = 3\n", r"lvstop\.toml:1: theme must be"),
        ("incident_dir = []\n", r"lvstop\.toml:1: incident_dir must be"),
        ("keepalived_dump_gap = -1\n", r"lvstop\.toml:1: keepalived_dump_gap must be a number"),
        ("keepalived_dump_gap = true\n", r"lvstop\.toml:1: keepalived_dump_gap must be"),
        ("read_only = true\nreadonly = true\n", r"lvstop\.toml:2: unknown setting 'readonly'"),
        ("read_only = true\n[top]\ninterval = 1\n", r"lvstop\.toml:2: unknown table 'top'"),
    ],
)
def test_bad_files_give_one_line_naming_file_and_line(
    tmp_path: Path, text: str, error: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(LvstopError, match=error) as info:
        settings.load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "lvstop.toml"
    path.write_bytes(b'interval = 1\ntheme = "\xff"\n')
    with pytest.raises(LvstopError, match=r"lvstop\.toml:2: not UTF-8"):
        settings.load(path)


def test_flags_override_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        'read_only = true\ninterval = 2\niface = "eth1"\n'
        'theme = "nord"\nincident_dir = "/var/tmp/x"\n',
    )
    monkeypatch.setenv(settings.ENV_VAR, str(path))
    merged = top.resolve(top_args())
    assert (merged.read_only, merged.interval, merged.iface, merged.theme, merged.incident_dir) == (
        True,
        2.0,
        ["eth1"],
        "nord",
        Path("/var/tmp/x"),
    )
    merged = top.resolve(
        top_args(
            "--no-read-only",
            "--interval",
            "0.5",
            "--iface",
            "eth0",
            "--theme",
            "gruvbox",
            "--incident-dir",
            "/tmp/i",
        )
    )
    assert (merged.read_only, merged.interval, merged.iface, merged.theme, merged.incident_dir) == (
        False,
        0.5,
        ["eth0"],
        "gruvbox",
        Path("/tmp/i"),
    )
    (tmp_path / "other").mkdir()
    other = write(tmp_path / "other", "interval = 3\n")
    assert top.resolve(top_args("--config", str(other))).interval == 3.0


def test_no_file_no_flags_gives_the_old_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    monkeypatch.setattr(settings, "DEFAULT_PATH", tmp_path / "absent.toml")
    merged = top.resolve(top_args())
    assert (merged.read_only, merged.interval, merged.iface, merged.theme, merged.incident_dir) == (
        False,
        1.0,
        [],
        None,
        None,
    )
    assert top.resolve(top_args("--read-only")).read_only is True


def test_cli_prints_one_line_for_a_bad_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lvstop import cli

    monkeypatch.setenv(settings.ENV_VAR, str(write(tmp_path, "interval = [\n")))
    code = cli.main(["top"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lvstop: ") and "lvstop.toml:1:" in err
    assert err.count("\n") == 1


def test_keepalived_signals_off_with_read_only_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--read-only / read_only = true: no signal to keepalived unless --keepalived-state."""
    monkeypatch.setattr("lvstop.sources.keepalived_state.can_signal", lambda: True)
    conf = write(tmp_path, "read_only = true\nkeepalived_dump_gap = 300\n")
    args = top.resolve(top_args("--config", str(conf)))
    assert args.keepalived_dump_gap == 300.0
    assert "read-only" in (top.no_signals_reason(args) or "")
    args = top.resolve(top_args("--config", str(conf), "--keepalived-state"))
    assert top.no_signals_reason(args) is None
    args = top.resolve(top_args("--read-only"))
    assert "read-only" in (top.no_signals_reason(args) or "")
    args = top.resolve(top_args("--no-keepalived-state"))
    assert top.no_signals_reason(args) == "--no-keepalived-state"
    monkeypatch.setenv(settings.ENV_VAR, str(write(tmp_path, "interval = 1\n")))
    assert top.no_signals_reason(top.resolve(top_args())) is None
    assert top.resolve(top_args()).keepalived_dump_gap == 60.0
    monkeypatch.setattr("lvstop.sources.keepalived_state.can_signal", lambda: False)
    assert top.no_signals_reason(top.resolve(top_args())) == "not root"
