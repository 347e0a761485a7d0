"""Audit jobs on a REAL Celery worker consuming the ``audit`` queue, real Redis, real PostgreSQL
(issue 14, item 3). Nothing is mocked: the API sends the job after commit exactly as in
production, and the worker (``celery -A cc_rules worker --queues audit``, a subprocess on this
session's test database and a Redis database of its own) runs it.

The history here is made in bulk with valid hash chains (``row_hash``, the project's own
function), a few thousand rows, so a job takes long enough for progress to be seen.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.db import connection, transaction

from cc_rules.models import Agent, AuditJob, StatusChange
from cc_rules.models.agents import GENESIS_HASH
from cc_rules.services.history import row_hash
from tests.factories import a_compliance_officer, an_agent, client_for

from .celery_procs import (
    CeleryProcesses,
    celery_on_this_session,
    wait_until,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

T0 = datetime(2026, 4, 6, 8, 0, tzinfo=UTC)
TABLE = StatusChange._meta.db_table
VERIFY_JOBS = "/api/v1/audit/verify/jobs/"
EXPORT_JOBS = "/api/v1/audit/status-changes/jobs/"
JOB_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def audit_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A worker on the ``audit`` queue only, with a shared export directory and progress
    written every 20 ms. This process sends its tasks to the worker's broker."""
    exports = tmp_path_factory.mktemp("exports")
    with celery_on_this_session(
        django_db_blocker,
        tmp_path_factory.mktemp("audit-celery"),
        queues="audit",
        env={"CC_AUDIT_EXPORT_DIR": str(exports), "CC_AUDIT_PROGRESS_SECONDS": "0.02"},
    ) as procs:
        yield procs, exports


@pytest.fixture
def live(audit_worker, settings):
    procs, exports = audit_worker
    settings.CC_AUDIT_EXPORT_DIR = exports
    if not procs.worker.running:
        procs.start_worker()
    mark = procs.mark()
    yield procs
    print(f"--- celery log during this test ---\n{procs.tail(mark, 300)}")


def build_chains(usernames: list[str], per_agent: int) -> list[StatusChange]:
    """``per_agent`` valid chained rows for each agent, inserted in bulk; chain heads set."""
    rows, heads = [], {}
    for n, username in enumerate(usernames):
        agent = an_agent(username)
        prev = GENESIS_HASH
        for seq in range(1, per_agent + 1):
            ready = seq % 2 == 0
            row = StatusChange(
                seq=seq,
                agent_id=agent.pk,
                channel_id=("voice", "chat", "email")[seq % 3],
                event="status",
                from_status="not_ready" if ready else "ready",
                to_status="ready" if ready else "not_ready",
                reason="" if ready else "break",
                cause="agent",
                rule="R2",
                actor_name="",
                request_id=f"req-{n}-{seq}",
                at=T0 + timedelta(seconds=seq, milliseconds=n),
                prev_hash=prev,
            )
            row.hash = prev = row_hash(row)
            rows.append(row)
        heads[agent.pk] = prev
    created = StatusChange.objects.bulk_create(rows, batch_size=2000)
    # The head moves only onto a row that exists (the history_head_forward trigger): rows first.
    for pk, head in heads.items():
        Agent.objects.filter(pk=pk).update(history_seq=per_agent, history_head=head)
    return created


def finished(job_id: int) -> AuditJob | None:
    job = AuditJob.objects.get(pk=job_id)
    return job if job.state in (AuditJob.State.DONE, AuditJob.State.FAILED) else None


def wait_for(procs: CeleryProcesses, job_id: int) -> AuditJob:
    return wait_until(lambda: finished(job_id), JOB_TIMEOUT, f"job {job_id}", procs)


def test_jobs_go_to_the_audit_queue_and_only_its_worker_runs_them(audit_worker, settings):
    procs, exports = audit_worker
    settings.CC_AUDIT_EXPORT_DIR = exports
    procs.worker.stop()
    build_chains(["amy"], 50)
    cora = a_compliance_officer("cora")
    job = client_for(cora).post(VERIFY_JOBS, {}, format="json").json()
    broker = redis.Redis.from_url(procs.broker_url)
    assert wait_until(lambda: broker.llen("audit") == 1, 10, "the job's message", procs)
    assert broker.llen("celery") == 0  # the timer workers' queue never sees a job
    assert AuditJob.objects.get(pk=job["id"]).state == "queued"
    procs.start_worker()
    assert wait_for(procs, job["id"]).result["rows_checked"] == 50


def test_a_verify_job_over_thousands_of_rows_reports_progress_and_the_result(live):
    build_chains(["amy", "bea", "cat", "dan"], 2500)
    client = client_for(a_compliance_officer("cora"))
    response = client.post(VERIFY_JOBS, {}, format="json")
    assert response.status_code == 202
    url = response["Location"]
    seen: list[tuple[str, int, int | None]] = []

    def poll() -> bool:
        body = client.get(url).json()
        seen.append((body["state"], body["rows_done"], body["rows_total"]))
        return body["state"] in ("done", "failed")

    wait_until(poll, JOB_TIMEOUT, "the verify job", live, interval=0.005)
    body = client.get(url).json()
    assert body["state"] == "done", body
    assert body["result"] == {
        "intact": True,
        "first_broken": None,
        "rows_checked": 10_000,
        "problem": "",
        "agent": None,
        "seq": None,
    }
    assert (body["rows_done"], body["rows_total"]) == (10_000, 10_000)
    midway = [done for state, done, total in seen if state == "running" and 0 < done < 10_000]
    assert midway, f"no progress seen while running: {sorted(set(seen))}"
    assert midway == sorted(midway)  # progress only goes forward
    assert AuditJob.objects.get(pk=body["id"]).attempts == 1


def test_a_tampered_chain_gives_intact_false_in_the_jobs_result(live):
    rows = build_chains(["amy", "bea"], 1500)
    victim = StatusChange.objects.get(agent__user__username="bea", seq=700)
    with transaction.atomic(), connection.cursor() as cursor:
        # as an attacker with table-owner rights: history triggers off, one row altered
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER ALL")
        cursor.execute(f"UPDATE {TABLE} SET reason = 'lunch' WHERE id = %s", [victim.pk])
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER ALL")
    client = client_for(a_compliance_officer("cora"))
    job = client.post(VERIFY_JOBS, {}, format="json").json()
    done = wait_for(live, job["id"])
    assert done.state == "done", done.error
    assert done.result["intact"] is False
    assert done.result["first_broken"] == victim.pk
    assert (done.result["agent"], done.result["seq"]) == ("bea", 700)
    assert "altered" in done.result["problem"]
    amy_rows = sum(1 for r in rows if r.agent_id != victim.agent_id)
    assert done.result["rows_checked"] == amy_rows + 700
    assert client.get(job["url"]).json()["result"]["intact"] is False


def test_the_export_jobs_file_equals_the_sync_csv_and_only_its_requester_downloads_it(live):
    build_chains(["amy", "bea", "cat"], 1200)
    cora, carl = a_compliance_officer("cora"), a_compliance_officer("carl")
    client = client_for(cora)
    filters = {"channel": "chat", "since": "2026-04-06T08:05:00Z", "until": "2026-04-06T08:25:00Z"}
    job = client.post(EXPORT_JOBS, filters, format="json").json()
    done = wait_for(live, job["id"])
    assert done.state == "done", done.error

    body = client.get(job["url"]).json()
    download = client.get(body["download_url"])
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    sync = client.get("/api/v1/audit/status-changes/", {**filters, "format": "csv"})
    assert sync.status_code == 200
    assert data == b"".join(sync.streaming_content)
    expected = StatusChange.objects.filter(
        channel_id="chat", at__gte=T0 + timedelta(minutes=5), at__lt=T0 + timedelta(minutes=25)
    ).count()
    assert expected == 3 * 300  # seq 300..1200 of each agent, every third one on chat
    assert body["result"]["rows"] == data.count(b"\n") - 1 == expected
    assert body["result"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert (body["rows_done"], body["rows_total"]) == (expected, expected)

    other = client_for(carl).get(body["download_url"])
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    agent = client_for(an_agent("al")).get(body["download_url"])
    assert (agent.status_code, agent.json()["code"]) == (403, "forbidden")
