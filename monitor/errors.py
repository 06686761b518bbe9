"""One exception tree for the whole monitor.

::

    MonitorError                      base: catch this to catch everything we raise
    ├── ConfigError                   settings, sources, watchlist or receiver files are wrong
    ├── InputError                    bad user input (a JSON Lines file, a CLI argument)
    │   └── DecodeError               a record that is not a valid event (line/offset + field)
    ├── LogError                      the event log (SQLite or Kafka) failed
    │   └── BrokerUnavailable         Kafka cannot be reached
    ├── FetchError                    a source could not be fetched (URL + reason)
    ├── DeliveryError                 a webhook could not be delivered
    └── EnvironmentProblem            something the machine lacks (Java, Maven, Chromium)

Messages say what went wrong, where (file, line, field, URL) and what to do.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error raised on purpose by the monitor."""


class ConfigError(MonitorError):
    """Configuration is invalid; the message names the setting or file and the fix."""


class InputError(MonitorError):
    """User input cannot be used. ``where`` is e.g. ``file.jsonl:3``."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class DecodeError(InputError):
    """A record is not a valid event: undecodable bytes, bad JSON, or a schema violation."""


class LogError(MonitorError):
    """The event log failed to read or write."""


class BrokerUnavailable(LogError):
    """Kafka cannot be reached at the configured bootstrap servers."""


class FetchError(MonitorError):
    """A source could not be fetched; the message names the URL and the reason."""


class DeliveryError(MonitorError):
    """A webhook delivery failed."""


class EnvironmentProblem(MonitorError):
    """The machine lacks something the command needs; the message says what to install."""
