"""The consent sensor: polls the registry's newest ``opdateret_tid`` and launches ``consent_refresh``.

It also fires once when the date changes, because consents expire by date (``gyldig_til``) without
any change in the registry.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg
import sqlalchemy as sa

from ..settings import redact_url
from .jobs import job_settings


def registry_fingerprint(url: str) -> str | None:
    """The newest update stamp and the number of consent versions, as text (None if unreachable)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT max(opdateret_tid), count(*) FROM samtykke")).fetchall()[0]
        return f"{row[0]}|{row[1]}"
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
