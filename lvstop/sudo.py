"""lvstop run for someone else (through sudo, or a set-uid install): what the caller may not
override.

A sudoers rule that allows lvstop gives its user lvstop's privileges; these options and
variables would let that user reach past what the director's root configured:

- ``--audit-log`` / ``$LVSTOP_AUDIT_LOG`` (``/dev/null``: writes without an audit trail),
  ``--state-file`` / ``$LVSTOP_STATE_FILE`` (root creates or replaces a file of the caller's
  choosing);
- ``--config`` / ``$LVSTOP_CONFIG`` of the dashboard (another file's ``read_only = false``),
  ``--no-read-only`` against ``read_only = true``, ``--incident-dir`` (root creates files in a
  directory of the caller's choosing).

Under sudo these are refused with one line, the settings of /etc/lvstop/lvstop.toml are
binding, and ``read_only = true`` there refuses the one-shot write commands too. Root itself
(no sudo, or ``sudo`` run by root) is not restricted. What a narrow rule must not allow besides
(options that read any file as root, the lab) is in the README, "Under sudo".
"""

from __future__ import annotations

import os
from pathlib import Path

from lvstop.errors import LvstopError

#: variables that would redirect what root reads or writes
ENV_OVERRIDES = ("LVSTOP_CONFIG", "LVSTOP_AUDIT_LOG", "LVSTOP_STATE_FILE")


def invoking_uid() -> int | None:
    """The uid lvstop runs for when that is not root: the real uid of a set-uid process, else
    sudo's ``SUDO_UID`` while lvstop is root. None: root runs it for itself."""
    if os.getuid() != os.geteuid():
        return os.getuid()
    if os.geteuid() != 0:
        return None  # not privileged: nothing to protect
    value = os.environ.get("SUDO_UID", "")
    try:
        uid = int(value)
    except ValueError:
        return None
    return uid if uid != 0 else None


def restricted() -> bool:
    return invoking_uid() is not None


def refusal(what: str, why: str) -> LvstopError:
    return LvstopError(f'{what} is not allowed under sudo: {why} (see the README, "Under sudo")')


def check_environment() -> None:
    """Under sudo, refuse the variables that redirect lvstop's files."""
    if not restricted():
        return
    for name in ENV_OVERRIDES:
        if os.environ.get(name):
            raise refusal(
                f"${name}", "the files are those of /etc/lvstop/lvstop.toml and the defaults"
            )


def check_write_options(audit_log: str | None, state_file: str | None) -> None:
    """Under sudo: the default audit log and state file, and ``read_only = true`` binding."""
    if not restricted():
        return
    check_environment()
    if audit_log:
        raise refusal("--audit-log", "every write goes to the default audit log")
    if state_file:
        raise refusal("--state-file", "drained weights live in the default state file")
    from lvstop import settings

    conf = settings.load(settings.DEFAULT_PATH)
    if conf.read_only:
        raise LvstopError(
            f"writes are off on this host (read_only = true in {conf.path}); "
            "under sudo that is binding"
        )


def check_dashboard_config(config: str | None) -> None:
    """Under sudo: the dashboard reads /etc/lvstop/lvstop.toml only (checked before reading)."""
    if not restricted():
        return
    check_environment()
    from lvstop import settings

    if config and Path(config) != settings.DEFAULT_PATH:
        raise refusal("--config", f"the dashboard reads {settings.DEFAULT_PATH} only")


def check_dashboard_options(
    read_only: bool | None, conf_read_only: bool, incident_dir: str | None
) -> None:
    """Under sudo: the config's ``read_only`` and incident folder are binding."""
    if not restricted():
        return
    from lvstop import settings

    if read_only is False and conf_read_only:
        raise refusal("--no-read-only", f"read_only = true in {settings.DEFAULT_PATH} is binding")
    if incident_dir:
        raise refusal(
            "--incident-dir",
            f"snapshots go to incident_dir of {settings.DEFAULT_PATH} (else the current directory)",
        )
