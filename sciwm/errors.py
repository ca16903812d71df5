"""The one error type for user mistakes: the CLI prints its message alone and exits non-zero."""


class SciwmError(Exception):
    """Bad input or an impossible request; the message says what is wrong and what to change."""
