"""Solving a queued run in a background thread, so a web request or an API call answers at once.

The run row is the only shared state: ``execute_run`` records each stage as
it ends (``stages_done``, ``progress_text``) and the final state, so any
worker process can show the progress by reading the row. A run whose
thread died with its process stays ``running`` until the next
``start_run`` of its round, which records it as abandoned once it has
outlived its time limit by ``service.RUN_STALE_MARGIN_S``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from mutualcredit.pools import service

log = logging.getLogger(__name__)


def run_in_background(session_factory: Callable[[], Session], run_id: uuid.UUID) -> threading.Thread:
    """Start a daemon thread that solves the queued run ``run_id`` with a session of its own."""

    def work() -> None:
        session = session_factory()
        try:
            service.execute_run(session, run_id)
        except Exception:  # recorded on the run by execute_run; the thread must not die noisily
            log.exception("pool run %s failed", run_id)
        finally:
            session.close()

    thread = threading.Thread(target=work, name=f"pool-run-{run_id}", daemon=True)
    thread.start()
    return thread
