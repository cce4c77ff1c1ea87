"""The one exception type front ends turn into a one-line message instead of a traceback."""


class LvstopError(Exception):
    """A failure the user can act on; ``str(exc)`` is the whole one-line message."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def one_line(exc: BaseException) -> str:
    """What to tell a user about ``exc``: one line, never a bare exception type name.

    lvstop's own errors are sentences already; the kernel's (``OSError``) become its reason
    and the file; anything else is an lvstop bug, said as such with what little it carries."""
    if isinstance(exc, LvstopError):
        text = str(exc)
    elif isinstance(exc, OSError):
        if exc.strerror:
            text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
        else:
            text = str(exc) or "an operating system error"
    else:
        detail = str(exc).strip()
        text = "an unexpected problem in lvstop (please report it)" + (
            f": {detail}" if detail else ""
        )
    lines = text.splitlines()
    return " ".join(lines[0].split()) if lines else "an unexpected problem in lvstop"
