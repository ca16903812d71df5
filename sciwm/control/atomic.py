"""`write_atomic(path, write)`: a file whole or absent. `write` fills a temporary name beside `path` (same
suffix, so writers that pick the format from it still do), which is then renamed; on failure or interrupt
the temporary file is removed and `path` keeps what it had."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
