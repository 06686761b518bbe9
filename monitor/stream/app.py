"""Build the Faust app from settings (never at import time, so tests make their own)."""

from __future__ import annotations

from typing import Any

import faust

from monitor.domain.detector import Detector
from monitor.settings import Settings
from monitor.stream.agents import register_stance_agent
from monitor.stream.consumer import LeanTransport
from monitor.stream.tables import declare_stance_table
from monitor.stream.topics import declare_topics


class MonitorApp(faust.App):
    """Faust's app, consuming through :class:`~monitor.stream.consumer.LeanConsumer`."""

    def _new_transport(self) -> Any:
        return LeanTransport(self.conf.broker_consumer, self)


def create_app(settings: Settings, *, detector: Detector | None = None) -> faust.App:
    if not settings.bootstrap:
        raise ValueError("the Faust app needs a Kafka bootstrap (settings.kafka.bootstrap)")
    worker = settings.worker
    kafka = settings.kafka
    app_kwargs: dict[str, Any] = {
        "broker": "kafka://" + ";kafka://".join(settings.bootstrap.split(",")),
        "store": "memory://",
        "datadir": str(worker.data_dir),
        "topic_partitions": settings.topics.partitions,
        "topic_replication_factor": 1,
        "processing_guarantee": worker.processing_guarantee,
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": worker.web_port != 0,
        "web_port": worker.web_port or 6066,
        "broker_client_id": kafka.client_id,
        "producer_acks": -1,
        # The agent appends a whole batch's alerts (then its states) without yielding and then
        # waits for them, so lingering would only add to that wait: the batch is already formed.
        "producer_linger_ms": 0,
        # aiokafka makes a send wait while its partition's batch is full, and keeps one request
        # in flight per broker: at the 16 KiB default, a batch of alerts and stance states (a few
        # KiB each) went out one produce request per message or two. 512 KiB per partition batch
        # stays under the broker's default message.max.bytes (1 MiB).
        "producer_max_batch_size": 512 * 1024,
        "stream_buffer_maxsize": max(4096, worker.batch_size * 2),
        "broker_commit_every": max(1000, worker.batch_size),
        "broker_commit_interval": 1.0,
        "broker_session_timeout": worker.session_timeout_s,
        "broker_heartbeat_interval": max(1.0, worker.session_timeout_s / 4),
    }
    if kafka.security_protocol != "PLAINTEXT":
        from faust.auth import SASLCredentials, SSLCredentials

        if kafka.sasl_mechanism:
            app_kwargs["broker_credentials"] = SASLCredentials(
                username=kafka.sasl_username,
                password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
                mechanism=kafka.sasl_mechanism,
            )
        elif kafka.ssl_cafile is not None:
            import ssl

            app_kwargs["broker_credentials"] = SSLCredentials(ssl.create_default_context(cafile=str(kafka.ssl_cafile)))
    worker.data_dir.mkdir(parents=True, exist_ok=True)
    app = MonitorApp(worker.app_id, **app_kwargs)
    topics = declare_topics(app, settings)
    table = declare_stance_table(app, settings)
    register_stance_agent(app, settings, topics, table, detector or Detector())
    return app
