"""The one exception type front ends turn into a one-line message instead of a traceback."""


class LvstopError(Exception):
    """A failure the user can act on; ``str(exc)`` is the whole one-line message."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
