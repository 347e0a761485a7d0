"""Audit jobs delivered twice, abandoned or failing (cc_rules.services.audit_jobs, issue 14).

A message can come twice (Redis redelivers after its visibility timeout; a killed pool
process's message comes back at once): a job whose run is alive is not run again, one whose
worker died is taken over, and one that keeps killing its worker is given up. The re-sent
messages go to the real broker (a queue name of this test's own, deleted after).
"""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from cc_rules.models import AuditJob
from cc_rules.services import audit_jobs
from tests.factories import a_compliance_officer, an_agent
from tests.tasks.celery_procs import broker_of_this_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(settings):
    """A queue of this test's own on the real broker."""
    settings.CC_AUDIT_QUEUE = name = f"audit-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    yield lambda: client.llen(name)
    client.delete(name)


@pytest.fixture
def cora():
    an_agent("ann")
    return a_compliance_officer("cora")


def a_job(cora, *, state="queued", heartbeat_age=None, attempts=0) -> AuditJob:
    heartbeat = None if heartbeat_age is None else timezone.now() - heartbeat_age
    return AuditJob.objects.create(
        kind="verify",
        requested_by=cora,
        state=state,
        heartbeat_at=heartbeat,
        attempts=attempts,
    )


STALE = timedelta(seconds=audit_jobs.STALE_SECONDS + 5)
FRESH = timedelta(seconds=2)


def test_a_job_whose_run_is_alive_is_not_run_again(cora):
    job = a_job(cora, state="running", heartbeat_age=FRESH, attempts=1)
    assert audit_jobs.run(job.pk) == "busy"
    job.refresh_from_db()
    assert (job.state, job.attempts, job.result) == ("running", 1, None)


def test_a_job_whose_worker_died_is_taken_over(cora):
    job = a_job(cora, state="running", heartbeat_age=STALE, attempts=1)
    assert audit_jobs.run(job.pk) == "done"
    job.refresh_from_db()
    assert (job.state, job.attempts, job.result["intact"]) == ("done", 2, True)


def test_a_job_that_killed_its_worker_too_often_is_given_up(cora):
    job = a_job(cora, state="running", heartbeat_age=STALE, attempts=audit_jobs.MAX_ATTEMPTS)
    assert audit_jobs.run(job.pk) == "failed"
    job.refresh_from_db()
    assert job.state == "failed"
    assert "attempts" in job.error


def test_an_unknown_job_is_gone(cora):
    assert audit_jobs.run(987654) == "gone"


def test_a_job_that_fails_records_why(cora):
    job = AuditJob.objects.create(kind="verify", requested_by=cora, parameters={"agent": "zed"})
    assert audit_jobs.run(job.pk) == "failed"
    job.refresh_from_db()
    assert job.state == "failed"
    assert "No agent named 'zed'" in job.error
    assert job.finished_at is not None


def test_upkeep_resends_only_abandoned_jobs(cora, queue):
    a_job(cora, state="running", heartbeat_age=STALE, attempts=1)
    a_job(cora, state="running", heartbeat_age=FRESH, attempts=1)
    a_job(cora)  # queued: its message is in the queue already
    assert audit_jobs.maintain()["jobs_resent"] == 1
    assert queue() == 1


def test_a_job_is_sent_to_the_audit_queue_once_its_row_is_committed(
    cora, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = audit_jobs.start("verify", {}, cora)
        assert queue() == 0  # not before commit: the worker would not find the row
    assert queue() == 1
    job.refresh_from_db()
    assert job.state == "queued"


def test_a_job_the_broker_did_not_take_is_failed_not_left_queued(
    cora, django_capture_on_commit_callbacks
):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    with broker_of_this_process(dead), django_capture_on_commit_callbacks(execute=True):
        job = audit_jobs.start("verify", {}, cora)
    job.refresh_from_db()
    assert job.state == "failed"
    assert "could not be reached" in job.error
