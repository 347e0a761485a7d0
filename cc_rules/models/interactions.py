"""Interactions (one piece of work on one channel) and chat transcripts."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from cc_rules.choices import Direction, EndHow, InteractionState, Kind

from .agents import Agent
from .channels import Channel, Contact, Workbin

S = InteractionState


class Interaction(FSMModelMixin, models.Model):
    """One call, e-mail, chat, tweet, workitem or co-browse session, handled by one agent.

    ``offered`` → ``active`` → ``ended`` → (``done`` →) ``closed``, or ``offered`` →
    ``rejected`` / ``missed``. Open work = ``offered`` or ``active`` (DECISIONS.md); caps count
    open rows with ``counts_toward_cap``. A consultation or conference is a child (``parent``)
    handled by the teammate. ``offer_deadline``/``offer_version`` drive offer expiry the same
    way the wrap-up deadline drives ACW.
    """

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT)
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="interactions")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NORMAL)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    state = FSMField(default=S.OFFERED, choices=S.choices, protected=True)
    counts_toward_cap = models.BooleanField(default=True)
    forwarded_from = models.CharField(max_length=15, null=True, blank=True)
    to_address = models.CharField(max_length=254, null=True, blank=True)
    end_how = models.CharField(max_length=16, null=True, blank=True, choices=EndHow.choices)
    workbin = models.ForeignKey(Workbin, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    offer_deadline = models.DateTimeField(null=True, blank=True)
    offer_version = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["agent", "state"], name="agent_open_idx"),
            models.Index(
                fields=["offer_deadline"],
                name="offer_due_idx",
                condition=Q(offer_deadline__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.channel_id} {self.state}"

    @property
    def is_open(self) -> bool:
        return self.state in (S.OFFERED, S.ACTIVE)

    @transition(field=state, source=S.OFFERED, target=S.ACTIVE)
    def accept(self, now: datetime) -> None:
        self.accepted_at = now
        self._clear_offer_deadline()

    @transition(field=state, source=S.OFFERED, target=S.REJECTED)
    def reject(self, now: datetime) -> None:
        self.ended_at = now
        self._clear_offer_deadline()

    @transition(field=state, source=S.OFFERED, target=S.MISSED)
    def miss(self, now: datetime) -> None:
        self.ended_at = now
        self._clear_offer_deadline()

    @transition(field=state, source=S.ACTIVE, target=S.ENDED)
    def end(self, how: str, workbin: Workbin | None, now: datetime) -> None:
        self.end_how = how
        self.workbin = workbin
        self.ended_at = now

    @transition(field=state, source=S.ENDED, target=S.DONE)
    def mark_done(self, now: datetime) -> None:
        self.done_at = now

    @transition(field=state, source=[S.ENDED, S.DONE], target=S.CLOSED)
    def close(self, now: datetime) -> None:
        self.closed_at = now

    def _clear_offer_deadline(self) -> None:
        self.offer_deadline = None
        self.offer_version += 1


class Message(models.Model):
    """A chat message kept in the interaction's transcript (R5: chat is kept, IM never is).

    Messages of a conference are stored on the parent (shared transcript); a consultation's
    stay on the consultation child and never show in the contact's transcript.
    """

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"message #{self.pk} on #{self.interaction_id}"
