"""Interrupts that wait for a safe point.

    with DeferredInterrupt() as stop:
        for item in work:
            do(item)                  # a SIGINT or SIGTERM here does not cut `do` short ...
            if stop.requested:        # ... the loop saves what it finished, then raises KeyboardInterrupt
                save(); raise KeyboardInterrupt

The first SIGINT or SIGTERM only sets `requested`; a second one raises KeyboardInterrupt at once (for a
user who will not wait). A signal the process ignores (SIG_IGN, e.g. SIGINT in a background job) stays
ignored. Signals can only be caught in the main thread; elsewhere this does nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class DeferredInterrupt:
    """SIGINT and SIGTERM set `requested` until the block ends; the previous handlers come back after it."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
