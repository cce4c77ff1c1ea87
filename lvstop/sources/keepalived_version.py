"""Which keepalived is installed: ``keepalived --version`` of a root-owned binary.

lvstop's config model applies keepalived 2.2.7's rules (``RULES_VERSION``); this says which
keepalived the host would run the config with, so ``lvstop keepalived`` can say whether those
rules are the right ones. Only fixed, root-owned, not group/world-writable binaries are run,
never a path a process or a config names (STYLE 22), with a timeout and no shell.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess

from lvstop.model.keepalived import RULES_VERSION, KeepalivedVersion

#: where distributions install keepalived, in the order looked at
CANDIDATES = ("/usr/sbin/keepalived", "/usr/local/sbin/keepalived", "/sbin/keepalived")
_VERSION = re.compile(r"Keepalived v(\d+)\.(\d+)\.(\d+)")


def trusted_binary(candidates: tuple[str, ...] = CANDIDATES) -> str | None:
    """The first candidate that is a regular file owned by root and writable only by it."""
    for path in candidates:
        try:
            info = os.stat(path)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or info.st_uid != 0:
            continue
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            continue
        return path
    return None


def judge(version: str | None) -> str | None:
    """The visible warning for a version outside what lvstop models (None: none needed)."""
    if version is None:
        return "keepalived --version said no version; lvstop applied keepalived 2.2.7's rules"
    major, minor, _patch = (int(x) for x in version.split("."))
    if major != 2:
        return (
            f"keepalived {version} is outside the 2.x range lvstop models: its reading follows "
            f"keepalived {RULES_VERSION}'s rules and may differ from what this keepalived runs"
        )
    if (major, minor) != (2, 2):
        return (
            f"keepalived {version}: lvstop applied keepalived {RULES_VERSION}'s rules; "
            "some keywords and load-time checks differ between 2.x releases"
        )
    return None


def parse_version(text: str) -> str | None:
    match = _VERSION.search(text)
    return ".".join(match.groups()) if match else None


def read_version(binary: str | None = None, timeout: float = 5.0) -> KeepalivedVersion:
    """Run ``keepalived --version`` (it prints on stderr) of the trusted binary."""
    path = binary if binary is not None else trusted_binary()
    if path is None:
        return KeepalivedVersion(None, None, None)
    try:
        done = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return KeepalivedVersion(path, None, f"{path} --version failed: {exc}")
    version = parse_version(done.stderr + done.stdout)
    return KeepalivedVersion(path, version, judge(version))


__all__ = [
    "CANDIDATES",
    "KeepalivedVersion",
    "judge",
    "parse_version",
    "read_version",
    "trusted_binary",
]
