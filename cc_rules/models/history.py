"""The ledger of status, DND and pending changes (R16), and idempotency records."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models

from cc_rules.choices import Cause, Event

from .agents import Agent
from .channels import Channel
from .guards import NOT_ARCHIVER, SealedProtect, SealedTrigger


class StatusChange(models.Model):
    """One change of status, DND or pending for one agent: append-only, hash-chained (R16).

    Written by the one writer, ``cc_rules.services.ledger``, in the same transaction as the
    change, under the agent's row lock, which also guards the chain head on ``Agent``. ``at``
    is the database clock read once per service call (``clock_timestamp()``), so the previous
    status's duration is exactly ``next.at - row.at``. On PostgreSQL, triggers refuse UPDATE,
    TRUNCATE, and DELETE except inside the archiving function (``models.guards``, the one
    documented bypass: the archive command's own database role; docs/audit.md).
    """

    seq = models.BigIntegerField(help_text="Position in the agent's chain, from 1.")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="history")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.PROTECT)
    event = models.CharField(max_length=8, choices=Event.choices)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    reason = models.CharField(max_length=32, blank=True)
    cause = models.CharField(max_length=16, choices=Cause.choices)
    rule = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    interaction_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["agent_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "seq"], name="history_chain_seq"),
        ]
        indexes = [
            models.Index(fields=["agent", "channel", "at"], name="history_agent_channel_at"),
            models.Index(fields=["at", "id"], name="history_at"),
        ]
        triggers = [
            SealedProtect(name="history_no_update", operation=pgtrigger.Update),
            SealedProtect(
                name="history_no_delete", operation=pgtrigger.Delete, condition=NOT_ARCHIVER
            ),
            SealedTrigger(
                name="history_no_truncate",
                operation=pgtrigger.Truncate,
                level=pgtrigger.Statement,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'pgtrigger: Cannot truncate % table', TG_TABLE_NAME;",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}#{self.seq} {self.event} {self.from_status}→{self.to_status}"


class IdempotencyRecord(models.Model):
    """A claimed ``Idempotency-Key`` and the response it produced (API.md, "Conventions").

    Written in the same transaction as the state change it guards, so a retry either finds the
    stored response or finds nothing and does the work. Only a hash of the body is kept (R5).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=200)
    key = models.CharField(max_length=255)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "endpoint", "key"], name="idempotency_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.endpoint} {self.key}"
