"""The admin's read-only list of audit jobs (issue 14, item 3)."""

from __future__ import annotations

import pytest

from cc_rules.models import AuditJob
from tests.factories import a_compliance_officer, a_supervisor, a_user, an_agent

pytestmark = pytest.mark.django_db

URL = "/admin/cc_rules/auditjob/"


@pytest.fixture
def jobs():
    cora = a_compliance_officer("cora")
    done = AuditJob.objects.create(
        kind="verify",
        requested_by=cora,
        state="done",
        rows_done=1234,
        rows_total=1234,
        result={"intact": False, "first_broken": 77, "problem": "prev_hash does not match"},
    )
    running = AuditJob.objects.create(
        kind="export", requested_by=cora, state="running", rows_done=500, rows_total=2000
    )
    return done, running


@pytest.mark.parametrize("who", ["compliance", "superuser"])
def test_staff_see_who_asked_for_what_how_far_and_the_outcome(client, jobs, who):
    user = {
        "compliance": lambda: a_compliance_officer("carl"),
        "supervisor": lambda: a_supervisor("sue"),
        "superuser": lambda: a_user("root", is_superuser=True, is_staff=True),
    }[who]()
    client.force_login(user)
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("cora", "1,234 / 1,234", "500 / 2,000", "broken at row 77", "running"):
        assert text in html, text
    assert f"{URL}add/" not in html
    assert 'name="action"' not in html
    done, _ = jobs
    detail = client.get(f"{URL}{done.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.post(f"{URL}{done.pk}/change/", {"state": "failed"}).status_code == 403
    assert client.post(f"{URL}{done.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditJob.objects.get(pk=done.pk).state == "done"


def test_a_supervisor_sees_only_their_own_jobs(client, jobs):
    sue = a_supervisor("sue")
    mine = AuditJob.objects.create(kind="export", requested_by=sue, state="queued")
    client.force_login(sue)
    html = client.get(URL).content.decode()
    assert f"{URL}{mine.pk}/change/" in html
    done, running = jobs  # cora's: their filters name agents of other teams
    assert f"{URL}{done.pk}/change/" not in html
    assert f"{URL}{running.pk}/change/" not in html
    assert client.get(f"{URL}{done.pk}/change/").status_code == 404
    assert client.get(f"{URL}{mine.pk}/change/").status_code == 200


def test_agents_do_not_see_the_list(client, jobs):
    client.force_login(an_agent("al", is_staff=True).user)
    assert client.get(URL).status_code in (302, 403)
