"""Agents and their live per-channel state."""

from __future__ import annotations

from datetime import datetime

import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, can_proceed, transition

from cc_rules.choices import Status
from cc_rules.engine.reasons import SYSTEM_LOGIN

from .channels import Channel
from .guards import HEAD_FORWARD_ONLY, SealedTrigger
from .rules import Role

extension_validator = RegexValidator(r"^[0-9]{2,15}$", "An extension is 2 to 15 digits.")

GENESIS_HASH = "0" * 64


class Agent(models.Model):
    """One agent (ARCHITECTURE.md). **This row is the lock** for the agent's live state.

    Every service that changes the agent's channels, interactions, DND, forwarding or history
    starts with ``select_for_update()`` on it (ascending id when it locks two). It also holds the
    head of the agent's status-history hash chain (``history_seq``/``history_head``), so
    appending under the lock can never fork the chain. Agents are deactivated, never deleted.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="agents")
    extension = models.CharField(
        max_length=15, null=True, blank=True, unique=True, validators=[extension_validator]
    )
    forward_to = models.CharField(
        max_length=15,
        null=True,
        blank=True,
        validators=[extension_validator],
        help_text="R4: voice work offered to this agent's extension goes to this extension.",
    )
    dnd = models.BooleanField("do not disturb", default=False)
    dnd_since = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    history_seq = models.BigIntegerField(default=0, editable=False)
    history_head = models.CharField(max_length=64, default=GENESIS_HASH, editable=False)

    class Meta:
        ordering = ["user__username"]
        triggers = [
            # The chain head is protected like the ledger rows (docs/audit.md): it moves only
            # forward, onto a row that is there; a plain UPDATE winding it back is refused.
            SealedTrigger(
                name="history_head_forward",
                operation=pgtrigger.Update,
                when=pgtrigger.Before,
                condition=pgtrigger.AnyChange("history_seq", "history_head"),
                func=HEAD_FORWARD_ONLY,
            ),
        ]

    def __str__(self) -> str:
        return self.user.username

    # Written only by the one writer (``services.ledger``) under the row lock, never by a
    # whole-row save: an admin form loaded before a status change would wind the chain head
    # (and DND) back, and the next ledger row would fork the chain.
    LIVE_FIELDS = frozenset({"dnd", "dnd_since", "history_seq", "history_head"})

    def save(self, *args, update_fields=None, **kwargs) -> None:
        if update_fields is None and not self._state.adding:
            update_fields = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in self.LIVE_FIELDS
            ]
        super().save(*args, update_fields=update_fields, **kwargs)

    @property
    def username(self) -> str:
        return self.user.username

    def clean(self) -> None:
        if self.forward_to and self.forward_to == self.extension:
            raise ValidationError({"forward_to": "An agent cannot forward to their own extension."})


class AgentChannelState(FSMModelMixin, models.Model):
    """The agent's status on one channel: an FSM (R2), pending request (R8), wrap-up deadline.

    Transitions only set fields and check structural legality; the rules are decided in the
    engine and the service calls the transition the engine chose. ``wrap_up_version`` is bumped
    by every change to the deadline (extend, done, manual status, timer), so a stale timer
    delivery finds a different version and does nothing.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="channel_states")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT)
    status = FSMField(default=Status.LOGGED_OFF, choices=Status.choices, protected=True)
    reason = models.CharField(max_length=32, null=True, blank=True)
    since = models.DateTimeField()
    pending_status = models.CharField(max_length=16, null=True, blank=True, choices=Status.choices)
    pending_reason = models.CharField(max_length=32, null=True, blank=True)
    pending_requested_at = models.DateTimeField(null=True, blank=True)
    pre_acw_status = models.CharField(max_length=16, null=True, blank=True, choices=Status.choices)
    pre_acw_reason = models.CharField(max_length=32, null=True, blank=True)
    wrap_up_interaction = models.ForeignKey(
        "cc_rules.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    wrap_up_deadline = models.DateTimeField(null=True, blank=True)
    wrap_up_version = models.PositiveIntegerField(default=0)
    wrap_up_extended = models.BooleanField(default=False)
    idle_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["agent_id", "channel_id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "channel"], name="one_state_per_channel"),
            models.CheckConstraint(
                condition=Q(wrap_up_deadline__isnull=True) | Q(status=Status.AFTER_CALL_WORK),
                name="deadline_only_in_acw",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "status", "idle_since"], name="routing_idx"),
            models.Index(
                fields=["wrap_up_deadline"],
                name="wrap_up_due_idx",
                condition=Q(wrap_up_deadline__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}/{self.channel_id}: {self.status}"

    # -- transitions (declared once; conditions are structural only) -------------------------
    # Each names the sources it is meaningful from: an agent logs in to not_ready (login) or
    # straight to ready or not_ready with a reason; ACW is entered only by the system from a
    # logged-in status; a status is never "re-entered" (the engine answers such a request as a
    # no-op), except not_ready with another reason, which is a change (DECISIONS.md).
    @transition(field=status, source=Status.LOGGED_OFF, target=Status.NOT_READY)
    def log_in(self, now: datetime, reason: str | None = SYSTEM_LOGIN) -> None:
        self._enter(reason, now)

    @transition(
        field=status,
        source=[Status.LOGGED_OFF, Status.NOT_READY, Status.AFTER_CALL_WORK],
        target=Status.READY,
    )
    def make_ready(self, now: datetime, reason: str | None = None) -> None:
        self._enter(None, now)
        self.idle_since = now

    @transition(
        field=status,
        source=[Status.LOGGED_OFF, Status.READY, Status.NOT_READY, Status.AFTER_CALL_WORK],
        target=Status.NOT_READY,
    )
    def make_not_ready(self, now: datetime, reason: str | None = None) -> None:
        self._enter(reason, now)

    @transition(
        field=status, source=[Status.READY, Status.NOT_READY], target=Status.AFTER_CALL_WORK
    )
    def start_wrap_up(self, now: datetime, reason: str | None = None) -> None:
        # The whole (status, reason) pair comes back after ACW (DECISIONS.md, "Combinations").
        self.pre_acw_status = self.status
        self.pre_acw_reason = self.reason if self.status == Status.NOT_READY else None
        self._enter(None, now)

    @transition(
        field=status,
        source=[Status.READY, Status.NOT_READY, Status.AFTER_CALL_WORK],
        target=Status.LOGGED_OFF,
    )
    def log_off(self, now: datetime, reason: str | None = None) -> None:
        self._enter(None, now)
        self.idle_since = None

    # The transition that reaches each status: the one map every path uses (``transition_to``).
    TRANSITIONS = {
        Status.READY: "make_ready",
        Status.NOT_READY: "make_not_ready",
        Status.LOGGED_OFF: "log_off",
        Status.AFTER_CALL_WORK: "start_wrap_up",
    }

    def transition_for(self, status: str, reason: str | None):
        """The bound transition method that moves this channel to ``status``. ``not_ready`` with
        the system reason ``login`` from ``logged_off`` is a login (only the system names it)."""
        if (
            status == Status.NOT_READY
            and reason == SYSTEM_LOGIN
            and self.status == Status.LOGGED_OFF
        ):
            return self.log_in
        return getattr(self, self.TRANSITIONS[status])

    def can_move_to(self, status: str, reason: str | None = None) -> bool:
        """django-fsm-2's ``can_proceed`` for the transition to ``status`` from here."""
        return can_proceed(self.transition_for(status, reason))

    def transition_to(self, status: str, reason: str | None, now: datetime) -> None:
        """Run the transition to ``status`` (``TransitionNotAllowed`` where none leads there)."""
        self.transition_for(status, reason)(now, reason)

    def _enter(self, reason: str | None, now: datetime) -> None:
        self.reason = reason
        self.since = now
        if self.status == Status.AFTER_CALL_WORK:
            self.clear_wrap_up()
            self.pre_acw_status = None
            self.pre_acw_reason = None

    def clear_wrap_up(self) -> None:
        """Forget the deadline; bumping the version makes any scheduled delivery stale."""
        self.wrap_up_deadline = None
        self.wrap_up_interaction = None
        self.wrap_up_extended = False
        self.wrap_up_version += 1

    def clear_pending(self) -> None:
        self.pending_status = None
        self.pending_reason = None
        self.pending_requested_at = None
