"""Admin forms: raw rule rows with a JSON value and the rulebook's help, reason codes, agents.

Roles, agents and the global defaults edit rules as a matrix instead (``cc_admin.rule_matrix``).

Validation itself lives on the models (``Rule.clean``, the constraints) and in the rulebook;
these forms only make sure every message reaches the page next to the field it is about,
including the checks Django's inline forms would otherwise skip (see ``InlineConstraintsMixin``).
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.models import BaseInlineFormSet, InlineForeignKeyField
from django.utils.html import escape

from cc_admin.rule_widgets import typed_value_widget
from cc_rules.choices import ChannelCode, Direction, Scope
from cc_rules.engine.rulebook import RULES
from cc_rules.models import Agent, Rule

# Shown under the value field; the change-form template switches it when the key changes.
RULE_HELP: dict[str, str] = {
    key: f"{d.rule} · {d.help}"
    + (" Per channel." if d.per_channel else " All channels.")
    + (" Not settable per agent." if not d.agent_scope else "")
    for key, d in RULES.items()
}
VALUE_HELP = (
    "JSON: a number, true/false, a list, or null (unlimited / no timer / none). A single word "
    "such as ready may be typed without quotes. Empty means null."
)
_BARE_WORD = re.compile(r"^[a-z_]+$")


class RuleValueField(forms.JSONField):
    """The rule's value as JSON; a bare word (``ready``) is read as a string for convenience."""

    default_error_messages = {
        "invalid": "Enter JSON: a number, true or false, a list such as "
        '[["voice", "chat"]], text in quotes, or null.',
    }

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            stripped = value.strip()
            if _BARE_WORD.match(stripped) and stripped not in ("true", "false", "null"):
                return stripped
        return super().to_python(value)


class ModelErrorsOnFormMixin:
    """Show model errors about fields the form does not render as form-level errors.

    Django raises ``ValueError`` when ``Model.clean`` names a field that is not on the form
    (e.g. ``scope`` on an inline where the scope is fixed); an admin must see the message instead.
    """

    def _update_errors(self, errors: ValidationError) -> None:
        if hasattr(errors, "error_dict"):
            remapped: dict[str, list] = {}
            for name, messages in errors.error_dict.items():
                target = name if name == NON_FIELD_ERRORS or name in self.fields else None
                if target is None:
                    label = name.replace("_", " ").capitalize()
                    messages = [
                        ValidationError(f"{label}: {'; '.join(m.messages)}") for m in messages
                    ]
                    target = NON_FIELD_ERRORS
                remapped.setdefault(target, []).extend(messages)
            errors = ValidationError(remapped)
        super()._update_errors(errors)  # type: ignore[misc]


class InlineConstraintsMixin(ModelErrorsOnFormMixin):
    """Validate the model's constraints on inline rows too.

    An inline form excludes its parent foreign key from model validation, and Django then skips
    every constraint that mentions it — a duplicate rule or reason code would reach the database
    as an IntegrityError. Once the parent exists we run the constraints with the key filled in.
    """

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        inline_fks = [n for n, f in self.fields.items() if isinstance(f, InlineForeignKeyField)]
        instance = self.instance
        model_fields = {f.name: f for f in instance._meta.concrete_fields}
        if not inline_fks or any(
            getattr(instance, model_fields[n].attname, None) is None
            for n in inline_fks
            if n in model_fields
        ):
            return  # the parent is being created: nothing in the database to collide with
        exclude = {n for n in self.fields if n in self._errors}  # type: ignore[attr-defined]
        try:
            instance.validate_constraints(exclude=exclude)
        except ValidationError as exc:
            self._update_errors(exc)


class RuleForm(ModelErrorsOnFormMixin, forms.ModelForm):
    """A rule row: key, scope and target, channel, and a JSON value checked by the rulebook."""

    value = RuleValueField(
        required=False,
        help_text=VALUE_HELP,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "class": "vLargeTextField"}),
    )

    class Meta:
        model = Rule
        fields = ["key", "scope", "role", "agent", "channel", "value", "note"]
        widgets = {"note": forms.TextInput(attrs={"size": 60})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        key = self._chosen_key()
        if "value" in self.fields:
            rule_help = RULE_HELP.get(key or "", "")
            typed = typed_value_widget(key) if key and "key" not in self.fields else None
            if typed is not None:  # an existing rule: its key is fixed, its value typed
                self.fields["value"].widget = typed
                rule_help = RULE_HELP.get(key, "")
                self.fields["value"].help_text = escape(rule_help)
            else:
                # admin templates render help text as HTML; the rulebook's text is plain
                self.fields["value"].help_text = escape(f"{rule_help} {VALUE_HELP}".strip())

    def _chosen_key(self) -> str | None:
        if "key" not in self.fields:
            return self.instance.key or None
        if self.is_bound:
            return self.data.get(self.add_prefix("key")) or None
        return self.initial.get("key") or self.instance.key or None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "scope" in self.fields:
            self._check_target(data)
        return data

    def _check_target(self, data: dict[str, Any]) -> None:
        """Name the field to fix rather than the database constraint behind it."""
        scope, role, agent = data.get("scope"), data.get("role"), data.get("agent")
        if scope == Scope.GLOBAL:
            if role is not None:
                self.add_error("role", "A global rule names no role; clear it or pick scope Role.")
            if agent is not None:
                self.add_error(
                    "agent", "A global rule names no agent; clear it or pick scope Agent."
                )
        elif scope == Scope.ROLE:
            if role is None:
                self.add_error("role", "Choose the role this rule applies to.")
            if agent is not None:
                self.add_error("agent", "A role rule names no agent.")
        elif scope == Scope.AGENT:
            if agent is None:
                self.add_error("agent", "Choose the agent this rule applies to.")
            if role is not None:
                self.add_error(
                    "role", "An agent rule names no role (the agent's own role is implied)."
                )


class UniqueRowsFormSet(BaseInlineFormSet):
    """Refuse the same row twice in one submission (the database would refuse it on save).

    ``row_identity`` names the fields that, with the parent, identify a row.
    """

    row_identity: tuple[str, ...] = ()
    row_name = "row"

    def clean(self) -> None:
        super().clean()
        seen: dict[tuple, int] = {}
        for number, form in enumerate(self.forms, start=1):
            if self.can_delete and self._should_delete_form(form):
                continue
            data = getattr(form, "cleaned_data", None)
            if not data:
                continue
            ident = tuple(data.get(name) for name in self.row_identity)
            if ident in seen:
                shown = ", ".join(str(v) for v in ident if v is not None)
                raise ValidationError(
                    f"The {self.row_name} {shown} appears twice (rows {seen[ident]} and {number}); "
                    "keep one."
                )
            seen[ident] = number


class ReasonCodeRowsFormSet(UniqueRowsFormSet):
    row_identity = ("code",)
    row_name = "reason code"


class ReasonCodeInlineForm(InlineConstraintsMixin, forms.ModelForm):
    pass


class AgentForm(forms.ModelForm):
    """Configuration of one agent. Live state (DND, forwarding, the history chain) is not here:
    it changes only through the services, which lock the agent and write the ledger."""

    class Meta:
        model = Agent
        fields = ["user", "role", "extension", "is_active"]

    def clean_extension(self) -> str | None:
        extension = self.cleaned_data.get("extension") or None
        old = self.instance.extension if self.instance.pk else None
        if old and extension != old:
            forwarding = list(
                Agent.objects.filter(forward_to=old)
                .exclude(pk=self.instance.pk)
                .values_list("user__username", flat=True)
            )
            if forwarding:
                raise ValidationError(
                    f"{', '.join(forwarding)} forward(s) calls to extension {old}; "
                    "change that forwarding first."
                )
        return extension


class SimulatorForm(forms.Form):
    """The admin decision simulator: which channel, inbound or outbound."""

    channel = forms.ChoiceField(choices=ChannelCode.choices)
    direction = forms.ChoiceField(
        choices=Direction.choices, initial=Direction.INBOUND, widget=forms.RadioSelect
    )
