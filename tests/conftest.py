"""Shared pytest fixtures.

Kafka (tests marked ``@pytest.mark.kafka``):

- ``kafka_bootstrap``: bootstrap servers of a real broker, shared by the session;
  ``$KAFKA_BOOTSTRAP_SERVERS`` if set, else one :class:`~monitor.localkafka.LocalKafka`.
- ``kafka_broker``: a private ``LocalKafka`` for one test, for tests that stop, kill or restart it.
- ``unique_topic``: fresh topic names, so tests sharing a broker never collide.

Native core: ``monitor_native``, the built module (analyzer core and fold); skipped when it is
not built, except under CI (``$CI`` set), where that fails.
"""

from __future__ import annotations

import importlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from monitor.domain.analysis import native
from monitor.errors import EnvironmentProblem
from monitor.localkafka import LocalKafka, bootstrap_servers

# -- Kafka -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a broker: ``$KAFKA_BOOTSTRAP_SERVERS``, else a LocalKafka for the whole session."""
    with bootstrap_servers(partitions=4) as bootstrap:
        yield bootstrap


@pytest.fixture
def kafka_broker() -> Iterator[LocalKafka]:
    """A private broker this test may stop, kill and restart (about 10 s to start)."""
    kafka = LocalKafka(partitions=4)
    try:
        kafka.start()
    except BaseException as exc:
        kafka.close()
        # With an external broker chosen on purpose, a machine without Java skips these tests.
        if isinstance(exc, EnvironmentProblem) and os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            pytest.skip(f"needs a local broker: {exc}")
        raise
    try:
        yield kafka
    finally:
        kafka.close()


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> Callable[..., str]:
    """Make fresh topic names: ``unique_topic()`` -> ``<test name>-<uuid>``, ``unique_topic("in")`` -> ``in-<uuid>``."""
    default = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-")[:80]

    def make(prefix: str = default) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


# -- native core -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def monitor_native() -> ModuleType:
    """The native module, with its analyzer core and its fold."""
    if not native.available():
        reason = "monitor_native is not built (make builds it from native/ when cargo is installed)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must test the native core and fold")
        pytest.skip(reason)
    found = importlib.import_module("monitor_native")
    if not hasattr(found, "Fold"):
        pytest.fail("monitor_native has no Fold: rebuild it (make .venv/.native)")
    return found
