"""Run the Faust worker from the CLI (``monitor worker`` / ``monitor run --kafka``)."""

from __future__ import annotations

import faust

from monitor.settings import Settings
from monitor.stream.app import create_app


def no_spinner(worker: faust.Worker) -> None:
    """Drop Faust's terminal spinner. At log level WARNING and above Faust would set the root
    logger to DEBUG for it, so every produced message built a debug log record nobody reads."""
    worker.spinner = None


def run_worker(settings: Settings) -> int:
    from monitor.observability import HEALTH, serve

    serve(settings.observability.port, settings.observability.host)
    HEALTH.stale_after_s = float("inf")  # Faust supervises its own loop; liveness = the process answers
    app = create_app(settings)

    @app.on_partitions_assigned.connect
    async def _ready(*_args: object, **_kwargs: object) -> None:
        HEALTH.ready = True

    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    no_spinner(worker)
    worker.execute_from_commandline()  # returns via SystemExit when stopped
    return 0
