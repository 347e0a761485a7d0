"""R16 over HTTP: /api/v1/audit/ for compliance (API.md "Compliance")."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from cc_rules.models import Agent, Rule, StatusChange
from cc_rules.services.history import Ctx
from cc_rules.services.ledger import record

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)
URL = "/api/v1/audit/status-changes/"
COLUMNS = [
    "id",
    "seq",
    "agent",
    "channel",
    "event",
    "from_status",
    "to_status",
    "reason",
    "cause",
    "rule",
    "actor",
    "request_id",
    "at",
]


def add(
    username,
    seconds,
    event,
    channel,
    from_status,
    to_status,
    *,
    cause="agent",
    reason=None,
    actor=None,
    rule="R2",
) -> StatusChange:
    agent = Agent.objects.select_for_update().get(user__username=username)
    user = get_user_model().objects.get(username=actor or username)
    return record(
        agent,
        Ctx(
            actor=user, request_id=f"req-{username}-{seconds}", now=T0 + timedelta(seconds=seconds)
        ),
        event=event,
        channel=channel,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        cause=cause,
        rule=rule,
    )


@pytest.fixture
def ledger(demo_world):
    """Alice and Bob interleaved in time, so id order differs from time order."""
    return [
        add(
            "alice", 0, "status", "voice", "logged_off", "not_ready", cause="system", reason="login"
        ),
        add("alice", 60, "status", "voice", "not_ready", "ready"),
        add(
            "alice", 60, "status", "chat", "logged_off", "not_ready", cause="system", reason="login"
        ),
        add(
            "bob", 30, "status", "voice", "logged_off", "not_ready", cause="system", reason="login"
        ),
        add("bob", 90, "status", "voice", "not_ready", "ready"),
        add("alice", 120, "dnd", None, "off", "on", rule="R3"),
        add(
            "alice",
            180,
            "status",
            "voice",
            "ready",
            "not_ready",
            cause="supervisor",
            reason="break",
            actor="sam",
        ),
        add("alice", 200, "pending", "chat", "", "not_ready", reason="lunch", rule="R8"),
        add("bob", 300, "status", "voice", "ready", "logged_off"),
    ]


def in_api_order(rows):
    return sorted(rows, key=lambda r: (r.at, r.pk))


def fetch_all(client, url):
    out = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        out += response.json()["results"]
        url = response.json()["next"]
    return out


def test_rows_are_oldest_first_with_the_api_columns(ledger, api):
    body = api("cora").get(URL).json()
    assert set(body) == {"next", "previous", "results"}
    assert [r["id"] for r in body["results"]] == [r.pk for r in in_api_order(ledger)]
    first = body["results"][0]
    assert list(first) == COLUMNS
    assert first == {
        "id": ledger[0].pk,
        "seq": 1,
        "agent": "alice",
        "channel": "voice",
        "event": "status",
        "from_status": "logged_off",
        "to_status": "not_ready",
        "reason": "login",
        "cause": "system",
        "rule": "R2",
        "actor": "alice",
        "request_id": "req-alice-0",
        "at": "2026-02-02T08:00:00Z",
    }
    forced = next(r for r in body["results"] if r["cause"] == "supervisor")
    assert (forced["agent"], forced["actor"]) == ("alice", "sam")
    dnd = next(r for r in body["results"] if r["event"] == "dnd")
    assert dnd["channel"] is None


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("agent=bob", lambda r: r.agent.user.username == "bob"),
        ("channel=chat", lambda r: r.channel_id == "chat"),
        ("status=ready", lambda r: r.to_status == "ready"),
        ("cause=supervisor", lambda r: r.cause == "supervisor"),
        ("event=dnd", lambda r: r.event == "dnd"),
        ("event=pending&agent=alice", lambda r: r.event == "pending"),
        ("since=2026-02-02T08:01:00Z", lambda r: r.at >= T0 + timedelta(minutes=1)),
        ("until=2026-02-02T08:01:00%2B00:00", lambda r: r.at < T0 + timedelta(minutes=1)),
        (
            "since=2026-02-02T08:01:00&until=2026-02-02T08:03:00&agent=alice&channel=voice",
            lambda r: (
                r.agent.user.username == "alice"
                and r.channel_id == "voice"
                and T0 + timedelta(minutes=1) <= r.at < T0 + timedelta(minutes=3)
            ),
        ),
        ("since=2026-02-03", lambda r: False),
        ("agent=nobody", lambda r: False),
    ],
)
def test_filters(ledger, api, query, keep):
    got = [r["id"] for r in fetch_all(api("cora"), f"{URL}?{query}")]
    assert got == [r.pk for r in in_api_order(ledger) if keep(r)]


@pytest.mark.parametrize(
    "query",
    [
        "channel=fax",
        "status=bogus",
        "cause=whim",
        "event=call",
        "since=2026-13-45",
        "until=yesterday",
        "since=2026-02-02T25:00",
        "since=0001-01-01",
    ],
)
@pytest.mark.parametrize("as_csv", [False, True])
def test_a_bad_filter_value_is_400_invalid(ledger, api, query, as_csv):
    response = api("cora").get(f"{URL}?{query}" + ("&format=csv" if as_csv else ""))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "invalid"
    assert query.split("=")[0] in body["fields"]


def test_cursor_pages_walk_forward_and_back(ledger, api):
    client = api("cora")
    everything = [r["id"] for r in fetch_all(client, URL)]
    paged = fetch_all(client, f"{URL}?page_size=2")
    assert [r["id"] for r in paged] == everything
    first = client.get(f"{URL}?page_size=4").json()
    second = client.get(first["next"]).json()
    assert first["previous"] is None
    assert [r["id"] for r in second["results"]] == everything[4:8]
    back = client.get(second["previous"]).json()
    assert back["results"] == first["results"]


def read_csv(response) -> list[list[str]]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def as_text(value) -> str:
    return "" if value is None else str(value)


@pytest.mark.parametrize("how", ["format", "accept"])
def test_csv_streams_the_same_rows_as_json(ledger, api, how):
    client = api("cora")
    if how == "format":
        response = client.get(f"{URL}?format=csv")
    else:
        response = client.get(URL, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    header, *rows = read_csv(response)
    assert header == COLUMNS
    expected = [[as_text(r[c]) for c in COLUMNS] for r in fetch_all(client, URL)]
    assert rows == expected
    assert len(rows) == len(ledger)


def test_csv_honours_the_filters(ledger, api):
    response = api("cora").get(f"{URL}?format=csv&agent=alice&channel=voice")
    _, *rows = read_csv(response)
    assert [int(r[0]) for r in rows] == [
        r.pk
        for r in in_api_order(ledger)
        if r.agent.user.username == "alice" and r.channel_id == "voice"
    ]


ENDPOINTS = [
    URL,
    "/api/v1/audit/time-in-status/",
    "/api/v1/audit/verify/",
    "/api/v1/audit/rule-changes/",
]


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize(
    ("user", "status", "code"),
    [
        ("cora", 200, None),  # compliance
        ("sam", 200, None),  # supervisor
        ("admin", 200, None),  # superuser
        ("alice", 403, "forbidden"),  # agent
        ("router", 403, "forbidden"),
        (None, 401, "not_authenticated"),
    ],
)
def test_only_compliance_supervisors_and_admins_read_the_audit(
    ledger, api, url, user, status, code
):
    response = api(user).get(url)
    assert response.status_code == status
    if code:
        assert response.json()["code"] == code


def test_the_audit_is_read_only(ledger, api):
    client = api("cora")
    for url in ENDPOINTS:
        assert client.post(url, {}, format="json").status_code == 405
    assert client.delete(URL).status_code == 405
    assert StatusChange.objects.count() == len(ledger)


def test_time_in_status_over_a_range(ledger, api):
    client = api("cora")
    response = client.get(
        "/api/v1/audit/time-in-status/?agent=alice&since=2026-02-02T08:00:30Z"
        "&until=2026-02-02T08:04:00Z"
    )
    assert response.status_code == 200
    assert response.json() == [
        {"agent": "alice", "channel": "chat", "status": "not_ready", "seconds": 180},
        {"agent": "alice", "channel": "voice", "status": "not_ready", "seconds": 90},
        {"agent": "alice", "channel": "voice", "status": "ready", "seconds": 120},
        {"agent": "alice", "channel": None, "status": "dnd", "seconds": 120},
    ]
    everyone = client.get("/api/v1/audit/time-in-status/?since=2026-02-02&until=2026-02-02T08:05")
    bob = [r for r in everyone.json() if r["agent"] == "bob"]
    assert bob == [
        {"agent": "bob", "channel": "voice", "status": "not_ready", "seconds": 60},
        {"agent": "bob", "channel": "voice", "status": "ready", "seconds": 210},
    ]


@pytest.mark.parametrize(
    "query",
    [
        "agent=nobody",
        "since=2026-02-02T09:00Z&until=2026-02-02T08:00Z",
        "since=soon",
        "until=0001-01-01",
        "until=9999-12-31T23:59:59Z",
    ],
)
def test_time_in_status_rejects_bad_queries(ledger, api, query):
    response = api("cora").get(f"/api/v1/audit/time-in-status/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_verify_reports_an_intact_chain(ledger, api):
    body = api("cora").get("/api/v1/audit/verify/").json()
    assert body == {"intact": True, "first_broken": None, "rows_checked": 9, "problem": ""}
    one = api("cora").get("/api/v1/audit/verify/?agent=bob").json()
    assert one["rows_checked"] == 3


def test_rule_changes_show_who_changed_which_rule_with_old_and_new_values(ledger, api):
    admin = get_user_model().objects.get(username="admin")
    rule = Rule.objects.filter(scope="global").order_by("pk").first()
    old = rule.value
    new = 999 if not isinstance(old, int) or old != 999 else 998
    if isinstance(old, bool):
        new = not old
    # What HistoryRequestMiddleware does for an admin's save: attribute the change to them.
    rule._history_user = admin
    rule.value = new
    rule.save()

    client = api("cora")
    body = client.get("/api/v1/audit/rule-changes/?model=rule&limit=5").json()
    assert set(body) >= {"next", "previous", "results"}
    latest = body["results"][0]
    assert latest["model"] == "rule"
    assert latest["object_id"] == rule.pk
    assert latest["action"] == "changed"
    assert latest["who"] == "admin"
    assert latest["object"].startswith(f"{rule.key}")
    assert latest["object"].endswith("@ global")
    assert latest["changes"] == [{"field": "value", "old": old, "new": new}]

    everything = client.get("/api/v1/audit/rule-changes/?limit=500").json()["results"]
    assert {r["model"] for r in everything} == {"rule", "role", "reason_code"}
    created = [r for r in everything if r["action"] == "created" and r["model"] == "role"]
    assert created
    assert any(c["field"] == "visible_channels" for c in created[0]["changes"])
    dates = [r["when"] for r in everything]
    assert dates == sorted(dates, reverse=True)


def test_rule_changes_reject_an_unknown_model(ledger, api):
    response = api("cora").get("/api/v1/audit/rule-changes/?model=agent")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_the_schema_documents_the_csv_response_and_errors(api, demo_world):
    schema = api("admin").get("/api/schema/?format=json").json()
    get = schema["paths"]["/api/v1/audit/status-changes/"]["get"]
    assert set(get["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert {"400", "401", "403"} <= set(get["responses"])
    names = {p["name"] for p in get["parameters"]}
    assert {"agent", "channel", "status", "cause", "event", "since", "until", "cursor"} <= names
    for path in ("time-in-status", "verify", "rule-changes"):
        assert "403" in schema["paths"][f"/api/v1/audit/{path}/"]["get"]["responses"]


@pytest.mark.parametrize("value", ["100%", "%s%s", "%(x)s", "2026-02-30"])
def test_a_bad_moment_never_breaks_the_error_message(ledger, api, value):
    for url in (URL, "/api/v1/audit/time-in-status/"):
        response = api("cora").get(url, {"since": value})
        assert response.status_code == 400
        assert response.json()["fields"]["since"]
