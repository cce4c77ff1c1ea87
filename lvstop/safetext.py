"""Text from outside (packets, capture files, configs, host and file names, the kernel) made
safe to show on a terminal: every control character is written visibly as ``\\xNN``.

A name, password or quoted config word may carry ESC, CR, BS or a C1 control (U+009B is a
one-character CSI): printed raw, it moves the cursor, rewrites earlier lines, sets the window
title or worse, in root's terminal. ``escape_controls`` is the one helper every front end uses;
``EscapingStream`` applies it to everything a command writes to stdout / stderr (``cli.main``
installs it), so no formatting path can forget it. JSON outputs are already escaped by
``json.dumps`` (``\\u001b``) and pass through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import IO, Any

#: C0 controls but newline, DEL and the C1 controls (U+0080..U+009F)
_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
#: the same and newline too: for a value shown within one line
_CONTROLS_AND_NEWLINE = re.compile("[\x00-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def escape_controls(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with each control character (C0, DEL, C1) replaced by ``\\xNN``.

    Newlines are kept (they are the structure of multi-line output) unless
    ``keep_newlines`` is False, for a value that must stay on its line.
    """
    pattern = _CONTROLS if keep_newlines else _CONTROLS_AND_NEWLINE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_visible, text)


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a control character other than newline."""
    return _CONTROLS.search(text) is not None


def write_control(stream: IO[str], code: str) -> None:
    """Write one of lvstop's own terminal controls (``\\r``, erase line) to ``stream``,
    past its ``EscapingStream`` if it has one."""
    getattr(stream, "wrapped", stream).write(code)


class EscapingStream:
    """A text stream that writes through ``escape_controls``; everything else (flush,
    fileno, isatty, encoding, buffer, ...) is the wrapped stream's."""

    def __init__(self, stream: IO[str]) -> None:
        self.wrapped = stream

    def write(self, text: str) -> int:
        self.wrapped.write(escape_controls(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


__all__ = ["EscapingStream", "escape_controls", "has_controls", "write_control"]
