"""Run the Faust worker from the CLI (``monitor worker`` / ``monitor run --kafka``)."""

from __future__ import annotations

import faust

from monitor.settings import Settings
from monitor.stream.app import create_app


def run_worker(settings: Settings) -> int:
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()  # returns via SystemExit when stopped
    return 0
