"""Metrics, health and structured logs for the long-running services.

Each service (worker, embedded runner, scraper, dispatcher) calls :func:`serve` once;
it exposes ``/metrics`` (Prometheus text format), ``/healthz`` (the process and its loop
are alive) and ``/readyz`` (the service has finished starting: log reachable, state
loaded) on ``MONITOR_OBSERVABILITY__PORT`` (0 = off). Metric objects are created once
here, so every module increments the same series.
"""

from __future__ import annotations

import logging
import logging.config
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

STATEMENTS = Counter("monitor_statements_processed_total", "Statements folded into stance state", ["backend"])
ALERTS = Counter("monitor_alerts_total", "Alerts raised", ["kind"])
DEAD_LETTERS = Counter("monitor_dead_letters_total", "Records sent to a dead-letter topic", ["topic"])
DELIVERIES = Counter("monitor_deliveries_total", "Webhook delivery attempts", ["receiver", "outcome"])
SCRAPED = Counter("monitor_scrape_statements_total", "Statements seen by the scraper", ["outcome"])
SCRAPE_SKIPS = Counter("monitor_scrape_skips_total", "Pages or sources skipped after a failure")
LAG = Gauge("monitor_consumer_lag", "Records not yet processed", ["group", "topic"])
BATCH_SECONDS = Histogram(
    "monitor_batch_processing_seconds",
    "Time to process one batch of statements (decode, fold, write)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class Health:
    """Liveness and readiness of one process; services call :meth:`beat` from their loop."""

    def __init__(self, stale_after_s: float = 60.0) -> None:
        self.ready = False
        self.stale_after_s = stale_after_s
        self._last_beat = time.monotonic()

    def beat(self) -> None:
        self._last_beat = time.monotonic()

    @property
    def alive(self) -> bool:
        return time.monotonic() - self._last_beat < self.stale_after_s


HEALTH = Health()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            ok = HEALTH.alive
            self._send(200 if ok else 503, b"ok\n" if ok else b"stalled\n")
        elif path == "/readyz":
            ok = HEALTH.ready and HEALTH.alive
            self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
        else:
            self._send(404, b"not found\n")

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # probes every few seconds would drown the logs


def serve(port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer | None:
    """Start the metrics/health endpoint in a daemon thread; ``port=0`` disables it."""
    if port == 0:
        return None
    server = ThreadingHTTPServer((host, port), _Handler)
    threading.Thread(target=server.serve_forever, name="monitor-metrics", daemon=True).start()
    return server


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def stdlib_logging_config(level: str = "INFO", fmt: str = "console") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` that renders stdlib records (aiokafka, Faust, mode) like ours.

    With ``fmt="json"`` every line a service prints is one JSON object, whichever library
    logged it. The Faust worker hands this to ``faust.Worker(logging_config=...)``, which
    would otherwise install its own text format.
    """
    quiet = logging.getLevelName(max(logging.WARNING, getattr(logging, level)))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "monitor": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(fmt)],
                "foreign_pre_chain": [
                    structlog.stdlib.add_logger_name,
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info,
                ],
            }
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "monitor"},
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # third-party libraries are kept at WARNING unless our own level is stricter
        "loggers": {name: {"level": quiet} for name in ("aiokafka", "kafka", "httpx", "httpcore")},
    }


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Structured logs on stderr: JSON lines in production, readable lines on a terminal.

    Our own events go through structlog; records of stdlib loggers (libraries) are rendered
    by the same renderer (:func:`stdlib_logging_config`).
    """
    logging.config.dictConfig(stdlib_logging_config(level, fmt))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _renderer(fmt),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        # Resolve sys.stderr when a logger is made, not now: it may be swapped (tests, daemons).
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
