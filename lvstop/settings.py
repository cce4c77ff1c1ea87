"""The dashboard's config file: ``/etc/lvstop/lvstop.toml`` (``$LVSTOP_CONFIG`` or
``--config`` name another). Command-line flags override it. Plain code, stdlib ``tomllib``.

    # /etc/lvstop/lvstop.toml
    read_only = true            # no drain / restore / weight / timeouts keys
    interval = 2                # seconds between refreshes (0.1 .. 3600)
    iface = ["eth0"]            # VRRP capture interface(s); a string is one interface
    theme = "nord"              # a Textual theme name
    incident_dir = "/var/tmp/lvstop"   # where `S` saves incident snapshots
    keepalived_dump_gap = 60    # seconds between two rounds of keepalived dumps the dashboard
                                # asks for on its own (0: only with the K key)
    [groups]                    # host groups for `lvstop --host GROUP`
    pair1 = ["root@10.0.5.90", "root@10.0.5.93"]

A missing default file means defaults; a file named explicitly must exist. Any problem is one
line naming the file and, where known, the line: ``lvstop.toml:3: interval must be …``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvstop.errors import LvstopError

try:
    import tomllib
except ModuleNotFoundError:  # python 3.10 (the pushed agent under sudo): said in one line
    tomllib = None  # type: ignore[assignment]

DEFAULT_PATH = Path("/etc/lvstop/lvstop.toml")
ENV_VAR = "LVSTOP_CONFIG"
KNOWN = ("read_only", "interval", "iface", "theme", "incident_dir", "keepalived_dump_gap", "groups")
DUMP_GAP_RANGE = (0.0, 86400.0)
INTERVAL_RANGE = (0.1, 3600.0)


@dataclass(frozen=True)
class Settings:
    read_only: bool = False
    interval: float = 1.0
    iface: tuple[str, ...] = ()
    theme: str | None = None
    incident_dir: Path | None = None
    keepalived_dump_gap: float = 60.0
    #: host groups for ``lvstop --host GROUP``: name -> its hosts
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the file these came from (None: defaults, no file)
    path: Path | None = None


def config_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The file to read and whether it was asked for (then it must exist)."""
    if explicit:
        return Path(explicit), True
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env), True
    return DEFAULT_PATH, False


def _line_of(text: str, key: str) -> int | None:
    rx = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
    for number, line in enumerate(text.splitlines(), 1):
        if rx.match(line):
            return number
    return None


def load(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read the config file (see the module docstring); raise LvstopError in one line."""
    path, required = config_path(explicit)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise LvstopError(f"config {path}: no such file") from None
        return Settings()
    except OSError as exc:
        raise LvstopError(f"config {path}: {exc.strerror or exc}") from None
    return parse(raw, path)


def _toml(raw: bytes, path: Path) -> tuple[str, dict[str, Any]]:
    """The file's text and its TOML document; a one-line FILE:LINE error if it is neither."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise LvstopError(f"{path}:{bad_line}: not UTF-8 text") from None
    if tomllib is None:
        raise LvstopError(f"{path}: reading it needs python 3.11 or newer (tomllib)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\s*\(at (?:line (\d+), column \d+|end of document)\)$", message)
        at = (m.group(1) or str(max(1, len(text.splitlines())))) if m else None
        where = f"{path}:{at}" if at else f"{path}"
        message = message[: m.start()] if m else message
        if m and not m.group(1):
            message += " (at the end of the file)"
        raise LvstopError(f"{where}: {message}") from None
    return text, data


def parse(raw: bytes, path: Path) -> Settings:
    text, data = _toml(raw, path)

    def fail(key: str, problem: str) -> LvstopError:
        line = _line_of(text, key)
        return LvstopError(f"{path}:{line}: {problem}" if line else f"{path}: {problem}")

    for key, value in data.items():
        if key not in KNOWN:
            what = "table" if isinstance(value, dict) else "setting"
            return_known = ", ".join(KNOWN)
            key_line = _line_of(text, key) or next(
                (
                    n
                    for n, s in enumerate(text.splitlines(), 1)
                    if s.strip() in (f"[{key}]", f"[[{key}]]")
                ),
                None,
            )
            where = f"{path}:{key_line}" if key_line else f"{path}"
            raise LvstopError(f"{where}: unknown {what} {key!r} (known: {return_known})")

    values: dict[str, Any] = {}
    if "read_only" in data:
        if not isinstance(data["read_only"], bool):
            raise fail("read_only", "read_only must be true or false")
        values["read_only"] = data["read_only"]
    if "interval" in data:
        interval = data["interval"]
        low, high = INTERVAL_RANGE
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not low <= interval <= high
        ):
            raise fail("interval", f"interval must be a number of seconds, {low:g} to {high:g}")
        values["interval"] = float(interval)
    if "iface" in data:
        iface = data["iface"]
        names = [iface] if isinstance(iface, str) else iface
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise fail("iface", 'iface must be an interface name or a list of them ("eth0")')
        values["iface"] = tuple(names)
    if "theme" in data:
        if not isinstance(data["theme"], str) or not data["theme"]:
            raise fail("theme", 'theme must be a theme name ("nord")')
        values["theme"] = data["theme"]
    if "incident_dir" in data:
        if not isinstance(data["incident_dir"], str) or not data["incident_dir"]:
            raise fail("incident_dir", "incident_dir must be a directory path")
        values["incident_dir"] = Path(data["incident_dir"]).expanduser()
    if "keepalived_dump_gap" in data:
        gap = data["keepalived_dump_gap"]
        low, high = DUMP_GAP_RANGE
        if isinstance(gap, bool) or not isinstance(gap, int | float) or not low <= gap <= high:
            raise fail(
                "keepalived_dump_gap",
                "keepalived_dump_gap must be a number of seconds, "
                f"{low:g} (only with the K key) to {high:g}",
            )
        values["keepalived_dump_gap"] = float(gap)
    if "groups" in data:
        groups = data["groups"]
        if not isinstance(groups, dict) or not all(
            isinstance(hosts, list) and hosts and all(isinstance(h, str) and h for h in hosts)
            for hosts in groups.values()
        ):
            raise LvstopError(
                f"{path}: [groups]: each group must be a list of hosts "
                '(pair1 = ["root@d1", "root@d2"])'
            )
        values["groups"] = tuple((str(k), tuple(v)) for k, v in groups.items())
    return Settings(**values, path=path)
