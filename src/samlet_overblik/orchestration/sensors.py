"""The consent sensor: polls a fingerprint of the whole consent registry and launches ``consent_refresh``.

The fingerprint is the number of rows and an order-independent checksum of every row of the registry's tables
(it is small), not the newest update stamp: a row stamped in the future, a garbage stamp or a deleted consent
would blind a stamp. It also fires once when the date changes, because consents expire by date (``gyldig_til``)
without any change in the registry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import dagster as dg
import sqlalchemy as sa

from ..settings import redact_url
from .jobs import job_settings

REGISTRY_TABLES = ("samtykke", "samtykke_omfang")


def registry_fingerprint(url: str) -> str | None:
    """``<rows>|<checksum>`` over every row of the registry's tables, as text (None if unreachable).

    The checksum is the sum of a hash per row (order-independent, so no sort in the source), and bytes are hashed as
    stored: a value that is not UTF-8 changes the fingerprint like any other instead of failing the poll."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.connection.driver_connection.text_factory = bytes
            present = [t for t in REGISTRY_TABLES if sa.inspect(conn).has_table(t)]
            if REGISTRY_TABLES[0] not in present:
                return None
            rows, total = 0, 0
            for table in present:
                result = conn.execute(sa.text(f"SELECT * FROM {table}"))
                for row in result:
                    digest = hashlib.blake2b(f"{table}|{row!r}".encode("utf-8", "backslashreplace"), digest_size=8)
                    total = (total + int.from_bytes(digest.digest(), "big")) % 2**64
                    rows += 1
        return f"{rows}|{total:016x}"
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def consent_registry_sensor(job) -> dg.SensorDefinition:
    interval = int(job_settings()["consent_sensor"]["interval_seconds"])

    @dg.sensor(
        name="consent_registry_sensor",
        job=job,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"source_samtykke"},
        description=f"Every {interval} s: launch consent_refresh when the consent registry changed or the date turned.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        url = context.resources.source_samtykke.url
        stamp = registry_fingerprint(url)
        if stamp is None:
            return dg.SkipReason(f"consent registry not reachable at {redact_url(url)}")
        today = datetime.now(timezone.utc).date().isoformat()
        previous = json.loads(context.cursor) if context.cursor else {}
        if previous.get("stamp") == stamp and previous.get("date") == today:
            return dg.SkipReason("consent registry unchanged")
        context.update_cursor(json.dumps({"stamp": stamp, "date": today}))
        return dg.RunRequest(run_key=f"consent-{stamp}-{today}", tags={"trigger": "consent_registry_sensor"})

    return _sensor
