"""The rules as data: roles, reason codes and rule rows at global, role and agent scope."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from simple_history.models import HistoricalRecords

from cc_rules.choices import Scope
from cc_rules.engine.rulebook import RULES, RuleValueError

from .channels import Channel


class Role(models.Model):
    """What an agent does; decides visible channels (R1), reason codes and role-scope rules.

    A role with no visible channels chosen inherits the global set (``Channel.visible_by_default``).
    """

    name = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=128, blank=True)
    visible_channels = models.ManyToManyField(
        Channel,
        blank=True,
        related_name="roles",
        help_text="R1. Leave empty to inherit the channels visible by default.",
    )
    history = HistoricalRecords(m2m_fields=[visible_channels])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name


class ReasonCode(models.Model):
    """A Not Ready reason. Global codes (no role) apply to roles that define none of their own."""

    code = models.SlugField(max_length=32)
    label = models.CharField(max_length=128)
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.CASCADE, related_name="reason_codes"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["role__name", "code"]
        constraints = [
            models.UniqueConstraint(Coalesce("role", 0), "code", name="reason_code_uniq_per_role"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.role or 'global'})"

    def clean(self) -> None:
        from cc_rules.engine.reasons import SYSTEM_REASONS

        if self.code in SYSTEM_REASONS:
            raise ValidationError({"code": f"{self.code!r} is a system reason; pick another code."})


class Rule(models.Model):
    """One rule value at one scope: ``key`` from the rulebook, for one channel where per-channel.

    No row means *inherit*; ``value`` null means *unlimited* / *no timer* where allowed.
    The resolver (``cc_rules.selectors.effective_rules``) takes the most specific row per field.
    Every change is kept by django-simple-history (who, what, when, old and new value).
    """

    KEY_CHOICES = [(key, f"{d.rule} · {d.label}") for key, d in RULES.items()]

    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.GLOBAL)
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    agent = models.ForeignKey(
        "cc_rules.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    key = models.CharField(max_length=32, choices=KEY_CHOICES)
    channel = models.ForeignKey(
        Channel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="Required for per-channel rules, empty for the others.",
    )
    value = models.JSONField(
        null=True, blank=True, help_text="JSON: a number, true/false, a text, a list, or null."
    )
    note = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["scope", "role__name", "agent_id", "key", "channel_id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="global", role__isnull=True, agent__isnull=True)
                    | Q(scope="role", role__isnull=False, agent__isnull=True)
                    | Q(scope="agent", role__isnull=True, agent__isnull=False)
                ),
                name="rule_scope_target",
                violation_error_message="Global rules name no role or agent; role rules name a "
                "role only; agent rules name an agent only.",
            ),
            models.UniqueConstraint(
                "scope",
                Coalesce("role", 0),
                Coalesce("agent", 0),
                "key",
                Coalesce("channel", models.Value("")),
                name="rule_one_value_per_scope",
                violation_error_message="This rule is already set at this scope.",
            ),
        ]
        indexes = [models.Index(fields=["key"])]

    def __str__(self) -> str:
        target = {"global": "global", "role": f"role {self.role}", "agent": f"agent {self.agent}"}
        where = f"[{self.channel_id}]" if self.channel_id else ""
        return f"{self.key}{where} @ {target.get(self.scope, self.scope)}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        definition = RULES.get(self.key)
        if definition is None:
            raise ValidationError({"key": "Unknown rule."})
        if definition.per_channel and not self.channel_id:
            errors["channel"] = "This rule is set per channel; choose a channel."
        if not definition.per_channel and self.channel_id:
            errors["channel"] = "This rule applies to all channels; leave the channel empty."
        if self.scope == Scope.AGENT and not definition.agent_scope:
            errors["scope"] = "This rule is set globally or per role only."
        try:
            parsed = definition.parse(self.value)
            self.value = definition.encode(parsed)
        except RuleValueError as exc:
            errors["value"] = str(exc)
        else:
            errors.update(self._check_reason_codes(parsed))
        if errors:
            raise ValidationError(errors)

    # The reason codes this rule's scope may name, when the caller knows them better than the
    # database does: ``import_rules`` checks a whole file before it writes any of it.
    reason_codes_in_scope: frozenset[str] | None = None

    def _check_reason_codes(self, parsed: object) -> dict[str, str]:
        """A reason required (or named after done) must exist for the role(s) it applies to."""
        if self.key not in ("reason_required", "after_done_reason"):
            return {}
        codes = self.reason_codes_in_scope
        if codes is None:
            role = self.role or (self.agent.role if self.agent_id and self.agent else None)
            own = ReasonCode.objects.filter(role=role) if role else ReasonCode.objects.none()
            if role is None or not own.exists():
                own = ReasonCode.objects.filter(role__isnull=True)
            codes = frozenset(own.values_list("code", flat=True))
        if self.key == "reason_required" and parsed is True and not codes:
            return {"value": "A reason is required, but no reason codes are defined for it."}
        if self.key == "after_done_reason" and parsed is not None and parsed not in codes:
            return {"value": f"{parsed!r} is not a reason code of this scope."}
        return {}


class RulesVersion(models.Model):
    """A single counter bumped in the same transaction as any rule change.

    Each process caches resolved rules per version, so every request sees an admin's change on
    its next read without a restart, and the version lives in PostgreSQL (DECISIONS.md).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)
    # A fresh random token with every bump: a restored or flushed database can repeat
    # `value`, never the token, so a long-running process cannot mistake old rules for new.
    token = models.UUIDField(default=uuid.uuid4)

    def __str__(self) -> str:
        return f"rules v{self.value}"
