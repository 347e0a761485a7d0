"""The beat's hourly purge removes expired Idempotency-Key records and keeps live ones."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from cc_rules.celery import app
from cc_rules.models import IdempotencyRecord
from cc_rules.tasks import purge_idempotency


@pytest.mark.django_db
def test_purge_idempotency_deletes_only_expired_keys():
    user = get_user_model().objects.create_user("purger")
    now = timezone.now()
    for key, expires in (("old", now - timedelta(hours=1)), ("live", now + timedelta(hours=1))):
        IdempotencyRecord.objects.create(
            user=user,
            endpoint="/api/v1/me/login/",
            key=key,
            body_hash="0" * 64,
            status_code=200,
            response_body={},
            created_at=now - timedelta(hours=25),
            expires_at=expires,
        )
    assert purge_idempotency() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["live"]


def test_the_beat_schedules_the_purge_and_sweeps_itself():
    app.loader.import_default_modules()
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    # The sweep is no task any more: the beat and the workers run it in-process (sweeper.py).
    assert tasks == {
        "cc_rules.purge_idempotency",
        "cc_rules.checkpoint_history",
        "cc_rules.maintain_audit_jobs",
    }
    assert "cc_rules.sweeper:SweeperStep" in app.steps["worker"]  # resolved when a worker starts
