"""The one error type for user mistakes (the CLI prints its message alone and exits non-zero), and the
reading of a user's TOML file with those errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class SciwmError(Exception):
    """Bad input or an impossible request; the message says what is wrong and what to change."""


def read_toml(path: str | Path, label: str) -> dict[str, Any]:
    """The TOML table of `path`; unreadable or invalid: SciwmError "`label`: cannot read (...)" / "not valid TOML"."""
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as err:
        raise SciwmError(f"{label}: cannot read ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise SciwmError(f"{label}: not valid TOML ({err})") from None
