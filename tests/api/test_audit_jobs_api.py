"""Audit jobs over HTTP (issue 14, item 3): who may ask, who may read, the sync bounds.

The jobs here run in this process through the task's body (``audit_jobs.run``), so the module
runs on SQLite too; ``tests/tasks/test_audit_jobs_worker.py`` runs them through a real Celery
worker on the ``audit`` queue. Jobs asked for inside a test's transaction are never sent to the
broker (they are sent after commit).
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from cc_rules.models import Agent, AuditJob, StatusChange
from cc_rules.services import audit_jobs
from cc_rules.services.history import Ctx
from cc_rules.services.ledger import record
from tests.factories import a_compliance_officer, a_supervisor, a_user, an_agent, client_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LIST = "/api/v1/audit/status-changes/"
VERIFY = "/api/v1/audit/verify/"
VERIFY_JOBS = "/api/v1/audit/verify/jobs/"
EXPORT_JOBS = "/api/v1/audit/status-changes/jobs/"
JOBS = "/api/v1/audit/jobs/"


def add_rows(username: str, n: int, start: int = 0) -> None:
    """``n`` status rows for ``username`` through the one writer, a minute apart."""
    for i in range(start, start + n):
        agent = Agent.objects.select_for_update().get(user__username=username)
        before, after = ("not_ready", "ready") if i % 2 else ("ready", "not_ready")
        record(
            agent,
            Ctx(actor=None, request_id=f"req-{i}", now=T0 + timedelta(minutes=i)),
            event="status",
            channel="voice" if i % 3 else "chat",
            from_status=before,
            to_status=after,
            reason="break" if after == "not_ready" else None,
            cause="agent",
            rule="R2",
        )


@pytest.fixture
def world(tmp_path, settings):
    settings.CC_AUDIT_EXPORT_DIR = tmp_path / "exports"
    an_agent("ann")
    an_agent("ben")
    add_rows("ann", 6)
    add_rows("ben", 4, start=100)
    return {
        "cora": a_compliance_officer("cora"),
        "carl": a_compliance_officer("carl"),
        "sue": a_supervisor("sue"),
        "root": a_user("root", is_superuser=True, is_staff=True),
    }


def run_job(body: dict) -> dict:
    """Run the job in this process as the worker would, then read it back."""
    assert audit_jobs.run(body["id"]) == "done"
    return body


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- asking for jobs ----------------------------------------------------------------------------
def test_a_verify_job_is_accepted_and_its_result_read_back(world):
    client = client_for(world["cora"])
    response = client.post(VERIFY_JOBS, {}, format="json")
    assert response.status_code == 202
    job = response.json()
    assert response["Location"] == job["url"]
    assert job["url"].endswith(f"{JOBS}{job['id']}/")
    assert (job["kind"], job["state"], job["requested_by"]) == ("verify", "queued", "cora")
    assert job["result"] is None
    assert job["download_url"] is None

    run_job(job)
    done = client.get(job["url"]).json()
    assert done["state"] == "done"
    assert done["rows_total"] == done["rows_done"] == 10
    assert done["result"] == {
        "intact": True,
        "first_broken": None,
        "rows_checked": 10,
        "problem": "",
        "agent": None,
        "seq": None,
    }
    assert done["started_at"]
    assert done["finished_at"]


def test_a_verify_job_for_one_agent(world):
    client = client_for(world["sue"])
    job = client.post(VERIFY_JOBS, {"agent": "ben"}, format="json").json()
    assert job["parameters"] == {"agent": "ben"}
    run_job(job)
    assert client.get(job["url"]).json()["result"]["rows_checked"] == 4


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (VERIFY_JOBS, {"agent": "nobody"}),
        (EXPORT_JOBS, {"channel": "fax"}),
        (EXPORT_JOBS, {"since": "yesterday"}),
        (EXPORT_JOBS, {"cause": "whim"}),
    ],
)
def test_a_bad_job_request_is_400_and_makes_no_job(world, url, body):
    response = client_for(world["cora"]).post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not AuditJob.objects.exists()


def test_the_export_jobs_file_is_the_sync_csv_for_the_same_filters(world):
    client = client_for(world["cora"])
    filters = {"agent": "ann", "channel": "voice", "since": "2026-03-02T08:01:00Z"}
    job = client.post(EXPORT_JOBS, filters, format="json").json()
    assert job["parameters"] == filters
    run_job(job)
    done = client.get(job["url"]).json()
    assert done["state"] == "done"
    assert done["download_url"].endswith(f"{JOBS}{job['id']}/download/")

    download = client.get(done["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    data = body_of(download)
    sync = client.get(LIST, {**filters, "format": "csv"})
    assert sync.status_code == 200
    assert data == body_of(sync)
    rows = read_csv(data)[1:]
    assert len(rows) == done["result"]["rows"] == done["rows_done"] == 4  # minutes 1, 2, 4, 5
    assert {r[2] for r in rows} == {"ann"}
    assert done["result"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert done["result"]["bytes"] == len(data)


# --- who may ask and read -----------------------------------------------------------------------
@pytest.mark.parametrize("who", ["agent", "anonymous"])
def test_agents_and_anonymous_callers_get_no_jobs(world, who):
    client = client_for(an_agent("al") if who == "agent" else None)
    status, code = (403, "forbidden") if who == "agent" else (401, "not_authenticated")
    job = AuditJob.objects.create(kind="verify", requested_by=world["cora"])
    for method, url in [
        ("post", VERIFY_JOBS),
        ("post", EXPORT_JOBS),
        ("get", JOBS),
        ("get", f"{JOBS}{job.pk}/"),
        ("get", f"{JOBS}{job.pk}/download/"),
    ]:
        response = getattr(client, method)(url, {}, format="json")
        assert (response.status_code, response.json()["code"]) == (status, code), url
    assert AuditJob.objects.count() == 1


def test_a_job_is_read_and_downloaded_only_by_its_requester_or_a_superuser(world):
    job = client_for(world["cora"]).post(EXPORT_JOBS, {}, format="json").json()
    run_job(job)
    for who, status in [("carl", 404), ("sue", 404), ("cora", 200), ("root", 200)]:
        client = client_for(world[who])
        assert client.get(f"{JOBS}{job['id']}/").status_code == status, who
        response = client.get(f"{JOBS}{job['id']}/download/")
        assert response.status_code == status, who
        if status == 404:
            assert response.json()["code"] == "not_found"
        else:
            assert len(read_csv(body_of(response))) == 11


def test_the_list_shows_the_callers_own_jobs_newest_first(world):
    cora, carl = client_for(world["cora"]), client_for(world["carl"])
    first = cora.post(VERIFY_JOBS, {}, format="json").json()["id"]
    carl.post(VERIFY_JOBS, {}, format="json")
    second = cora.post(EXPORT_JOBS, {"agent": "ann"}, format="json").json()["id"]
    listed = cora.get(JOBS).json()
    assert [j["id"] for j in listed["results"]] == [second, first]
    assert {j["requested_by"] for j in listed["results"]} == {"cora"}


def test_a_download_before_done_is_409_and_after_expiry_410(world, settings):
    client = client_for(world["cora"])
    job = client.post(EXPORT_JOBS, {}, format="json").json()
    response = client.get(f"{JOBS}{job['id']}/download/")
    assert (response.status_code, response.json()["code"]) == (409, "job_not_done")

    run_job(job)
    path = audit_jobs.export_path(AuditJob.objects.get(pk=job["id"]))
    assert path is not None
    assert path.is_file()
    assert path.parent == settings.CC_AUDIT_EXPORT_DIR
    assert path.stat().st_mode & 0o077 == 0  # readable by the service only

    # not expired yet: nothing is deleted
    assert audit_jobs.maintain()["files_deleted"] == 0
    later = timezone.now() + timedelta(hours=settings.CC_AUDIT_EXPORT_RETENTION_HOURS, minutes=1)
    assert audit_jobs.maintain(now=later)["files_deleted"] == 1
    assert not path.exists()
    response = client.get(f"{JOBS}{job['id']}/download/")
    assert (response.status_code, response.json()["code"]) == (410, "export_expired")
    assert client.get(job["url"]).json()["download_url"] is None


def test_a_verify_job_has_no_file(world):
    client = client_for(world["cora"])
    job = run_job(client.post(VERIFY_JOBS, {}, format="json").json())
    assert client.get(f"{JOBS}{job['id']}/download/").status_code == 404


def test_a_finished_job_is_not_run_again(world):
    job = client_for(world["cora"]).post(VERIFY_JOBS, {}, format="json").json()
    run_job(job)
    assert audit_jobs.run(job["id"]) == "gone"
    assert AuditJob.objects.get(pk=job["id"]).attempts == 1


# --- the sync bounds ----------------------------------------------------------------------------
def test_verify_over_the_bound_is_400_naming_the_job_endpoint(world, settings):
    client = client_for(world["cora"])
    settings.CC_AUDIT_SYNC_VERIFY_MAX_ROWS = 10
    assert client.get(VERIFY).json()["rows_checked"] == 10  # at the bound: answered
    settings.CC_AUDIT_SYNC_VERIFY_MAX_ROWS = 9
    response = client.get(VERIFY)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "verify_too_large"
    assert VERIFY_JOBS in body["detail"]
    # one agent's chain is within the bound
    assert client.get(VERIFY, {"agent": "ben"}).json()["rows_checked"] == 4


def test_a_csv_over_the_bound_is_400_naming_the_job_endpoint(world, settings):
    client = client_for(world["cora"])
    settings.CC_AUDIT_CSV_MAX_ROWS = 6
    within = client.get(LIST, {"format": "csv", "agent": "ann"})
    assert within.status_code == 200
    data = body_of(within)
    assert within["Content-Length"] == str(len(data))
    assert len(read_csv(data)) == 7
    response = client.get(LIST, {"format": "csv"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "export_too_large"
    assert EXPORT_JOBS in body["detail"]
    # the JSON pages are not bounded
    assert client.get(LIST).status_code == 200
    assert StatusChange.objects.count() == 10
