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
    from monitor.observability import HEALTH, serve, stdlib_logging_config

    serve(settings.observability.port, settings.observability.host)
    HEALTH.stale_after_s = float("inf")  # Faust supervises its own loop; liveness = the process answers
    app = create_app(settings)

    @app.on_partitions_assigned.connect
    async def _ready(*_args: object, **_kwargs: object) -> None:
        HEALTH.ready = True

    # Faust and mode log through stdlib logging: render their records like ours (JSON lines
    # with MONITOR_LOG_FORMAT=json) instead of Faust's own text format.
    logging_config = stdlib_logging_config(settings.log_level, settings.log_format)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True, logging_config=logging_config)
    no_spinner(worker)
    worker.execute_from_commandline()  # returns via SystemExit when stopped
    return 0
