"""Pausing Python's cyclic garbage collector around large, acyclic workloads."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block and restore the caller's setting.

    Reading, clearing or checking a million obligations creates millions of
    acyclic objects; the collector would walk all the live ones again and
    again (it doubled load times). Reference counting still frees them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
