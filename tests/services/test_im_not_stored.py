"""R5: IM text never reaches a database table or a log line; it lives only in Redis.

An IM with a unique marker is sent over HTTP (with an ``Idempotency-Key``, so the idempotency
records are exercised too) while every SQL statement is captured (``DEBUG`` on, so Django's
``django.db.backends`` logger also logs each statement) and every log record is kept. Then
every text-bearing column of every table is searched for the marker, with the ORM over every
model and with raw SQL over every table the database has. A chat message sent the same way is
the positive control: the same search must find *its* marker, so the search cannot be blind.
The IM marker must come back out of Redis through the inbox, so the message really was sent.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from django.apps import apps
from django.db import connection, models
from django.db.models.functions import Cast
from django.test.utils import CaptureQueriesContext, override_settings

from cc_rules.models import Agent
from cc_rules.services import im as im_service
from tests.factories import a_router, an_agent, client_for

API = "/api/v1"
TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


@pytest.fixture
def seeded(db, settings):
    """alice (chat and IM), bob (voice and IM) and the router account."""
    settings.CC_SEND_WAKEUPS = False
    an_agent("alice", visible=["chat", "im"])
    an_agent("bob", visible=["voice", "im"])
    a_router("router")


def _rows_with(marker: str) -> list[str]:
    """Where ``marker`` occurs in the database: ORM over every model, raw SQL over every table.

    Runs with DEBUG off, so its own queries (which carry the marker) are neither recorded nor
    logged and cannot be mistaken for the application's.
    """
    with override_settings(DEBUG=False):
        return _scan(marker)


def _scan(marker: str) -> list[str]:
    found = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if not isinstance(field, TEXT_FIELDS):
                continue
            query = model._base_manager.all()
            if isinstance(field, models.JSONField):
                query = query.annotate(_as_text=Cast(field.name, models.TextField()))
                hit = query.filter(_as_text__contains=marker).exists()
            else:
                hit = query.filter(**{f"{field.name}__contains": marker}).exists()
            if hit:
                found.append(f"{model._meta.db_table}.{field.column} (ORM)")
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor, include_views=False):
            quoted = connection.ops.quote_name(table)
            if connection.vendor == "postgresql":
                # The whole row as text: every column, whatever its type.
                cursor.execute(
                    f"SELECT count(*) FROM {quoted} AS t WHERE t::text LIKE %s", [f"%{marker}%"]
                )
                if cursor.fetchone()[0]:
                    found.append(f"{table} (row scan)")
                continue
            for column in connection.introspection.get_table_description(cursor, table):
                name = connection.ops.quote_name(column.name)
                cursor.execute(
                    f"SELECT count(*) FROM {quoted} WHERE CAST({name} AS TEXT) LIKE %s",
                    [f"%{marker}%"],
                )
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column.name} (column scan)")
    return found


def _log_lines_with(marker: str, records: list[logging.LogRecord]) -> list[str]:
    hits = []
    for record in records:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is still a line someone could read
            message = str(record.msg)
        blob = " ".join([message, repr(record.args), repr(vars(record))])
        if marker in blob:
            hits.append(f"{record.name}: {message[:200]}")
    return hits


def test_im_text_reaches_no_table_no_log_line_and_no_sql_statement(seeded, settings, caplog):
    settings.DEBUG = True  # Django records and logs every SQL statement with its parameters
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    im_marker = f"IM-SECRET-{uuid.uuid4().hex}"
    chat_marker = f"CHAT-KEPT-{uuid.uuid4().hex}"
    alice, bob, router = client_for("alice"), client_for("bob"), client_for("router")
    bob_agent = Agent.objects.get(user__username="bob")
    im_service.discard(bob_agent.pk)  # start from an empty inbox

    # Positive control: a chat message is kept (R5), so the search below must find it.
    alice.post(f"{API}/me/login/", {"channels": ["chat"]}, format="json")
    alice.put(f"{API}/me/channels/chat/status/", {"status": "ready"}, format="json")
    chat = router.post(
        f"{API}/interactions/",
        {"channel": "chat", "direction": "inbound", "agent": "alice"},
        format="json",
    ).json()
    alice.post(f"{API}/interactions/{chat['id']}/accept/", {}, format="json")

    with CaptureQueriesContext(connection) as queries:
        sent = alice.post(
            f"{API}/im/",
            {"to": "bob", "text": f"the code is {im_marker}"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"im-{uuid.uuid4().hex}",
        )
        kept = router.post(
            f"{API}/interactions/{chat['id']}/messages/",
            {"text": f"my order is {chat_marker}"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"chat-{uuid.uuid4().hex}",
        )
    assert sent.status_code == 202, sent.content
    assert kept.status_code == 201, kept.content
    assert queries.captured_queries, "no SQL was captured: the capture is blind"

    # The control proves the search and the capture can see a marker where there is one.
    assert _rows_with(chat_marker), "the database search cannot find a stored chat message"
    assert any(chat_marker in q["sql"] for q in queries.captured_queries)
    assert _log_lines_with(chat_marker, caplog.records), "django.db.backends logged no SQL"

    assert _rows_with(im_marker) == []
    assert [q["sql"][:200] for q in queries.captured_queries if im_marker in q["sql"]] == []
    assert [q["sql"][:200] for q in connection.queries if im_marker in q["sql"]] == []
    assert _log_lines_with(im_marker, caplog.records) == []
    assert im_marker not in caplog.text

    # It is in Redis: bob's inbox returns it until bob acknowledges it (with a key, so the
    # acknowledgement's idempotency record is searched too), then it is gone.
    inbox = bob.get(f"{API}/im/inbox/")
    assert inbox.status_code == 200
    [message] = inbox.json()["results"]
    assert message["text"] == f"the code is {im_marker}"
    acked = bob.post(
        f"{API}/im/inbox/ack/",
        {"up_to": message["id"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"ack-{uuid.uuid4().hex}",
    )
    assert acked.json() == {"removed": 1, "remaining": 0}
    assert im_marker not in str(bob.get(f"{API}/im/inbox/").json())
    assert _rows_with(im_marker) == []  # reading it stored nothing either
    assert _log_lines_with(im_marker, caplog.records) == []
