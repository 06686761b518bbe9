"""The stance table: per actor (UTF-8 bytes key), the JSON of its :class:`~monitor.domain.models.StanceState`.

Keyed by actor like the ``statements`` topic, with the same partition count, so the
changelog partition of an actor is the partition its statements arrive on.
``use_partitioner=True`` lets the batching agent write outside per-event iteration: the
producer's murmur2 partitioner then picks the same partition as for the source key.
"""

from __future__ import annotations

from typing import Any

import faust

from monitor.settings import Settings

STANCE_TABLE = "stance"


def declare_stance_table(app: faust.App, settings: Settings) -> Any:
    return app.Table(
        STANCE_TABLE,
        default=None,
        partitions=settings.topics.partitions,
        # key_type/value_type, not only the schema: Faust derives the serializers it uses when
        # *recovering* the table from them, and would read the changelog as JSON otherwise.
        key_type=bytes,
        value_type=bytes,
        schema=faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"),
        use_partitioner=True,
        help="Stance state per actor (JSON of StanceState), folded from the statements topic.",
    )
