"""The dispatcher on the Kafka adapter: same guarantees as on the embedded log (needs a broker)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest

from monitor.adapters.kafka import KafkaLog
from monitor.codec import alert_message
from monitor.deliver.config import DeliverSettings, parse_receivers
from monitor.deliver.dispatcher import Dispatcher
from monitor.deliver.testing import ScriptedServer, fail_first, make_alert
from monitor.deliver.verify import verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.kafka
async def test_delivers_every_alert_from_kafka_and_commits_the_group(
    kafka_bootstrap: str, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("alerts")
    settings = DeliverSettings(
        attempts_topic=unique_topic("deliveries"),
        dead_letter_topic=unique_topic("dlq"),
        receivers_topic=unique_topic("receivers"),
        group_prefix=f"dispatch-{uuid.uuid4().hex[:8]}.",
        poll_interval_s=0.05,
        commit_interval_s=0.1,
    )
    log = KafkaLog(kafka_bootstrap)
    alerts = [make_alert(i, actor=f"actor-{i % 5}") for i in range(12)]
    server = ScriptedServer(fail_first(1))
    try:
        await log.append(topic, [alert_message(a) for a in alerts])
        async with server.serve() as url, httpx.AsyncClient() as client:
            rcvs = parse_receivers(
                {"receivers": [{"name": "k", "url": url, "secrets": [SECRET],
                                "retry": {"schedule_s": [0.05, 0.1]}, "breaker": {"failure_threshold": 100}}]},
                environ={},
            )
            stop = asyncio.Event()
            task = asyncio.create_task(Dispatcher(log, rcvs, client, alerts_topic=topic, settings=settings).run(stop))
            await server.wait_for(lambda s: len(s.delivered_ids()) == len(alerts), within_s=60)
            stop.set()
            async with asyncio.timeout(30):
                await task
        assert server.delivered_ids() == {a.id for a in alerts}
        for hit in server.hits:
            verify(hit.body, hit.headers, [SECRET])
        assert await log.committed(settings.group_prefix + "k", topic) == await log.end_offsets(topic)
    finally:
        await log.close()
