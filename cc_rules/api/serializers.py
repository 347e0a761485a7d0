"""Request validation and response shapes (API.md). Only documented fields are accepted:
unknown fields are refused (no mass assignment of ``agent``, ``state``, ``role``…)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from cc_rules.choices import (
    ContactPointKind,
    Direction,
    EndHow,
    InteractionState,
    Kind,
    RequestableStatus,
    Status,
)
from cc_rules.engine import reasons
from cc_rules.engine.rulebook import CHANNELS
from cc_rules.services.im import is_message_id

# Every decision and refusal code of the engine (``ReasonCodeEnum`` in the OpenAPI schema).
REASON_CODES = tuple(
    value
    for name, value in vars(reasons).items()
    if name.isupper() and isinstance(value, str) and not name.startswith("SYSTEM_")
)


def _wrong_json_type(field: serializers.Field, value: Any) -> str | None:
    """The schema's JSON type, enforced: DRF would read ``1002`` as ``"1002"``, ``"yes"`` as
    ``true`` and ``"5"`` as ``5``; the API takes each field only in its documented type."""
    if value is None:
        return None  # allow_null decides
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Not an integer."
    if isinstance(field, serializers.CharField | serializers.ChoiceField):
        return None if isinstance(value, str) else "Not a string."
    return None


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, so a client cannot smuggle ``agent`` or ``state``,
    and values of another JSON type than the field's."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}, code="unknown_field"
                )
            wrong = {
                name: [problem]
                for name, field in self.fields.items()
                if name in data and (problem := _wrong_json_type(field, data[name]))
            }
            if wrong:
                raise serializers.ValidationError(wrong, code="invalid")
        return super().to_internal_value(data)


# -- requests ---------------------------------------------------------------------------------
class LoginRequest(StrictSerializer):
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=CHANNELS), required=False, max_length=len(CHANNELS)
    )


class StatusRequest(StrictSerializer):
    status = serializers.ChoiceField(choices=RequestableStatus.choices)
    reason = serializers.CharField(required=False, allow_null=True, max_length=32)


class DndRequest(StrictSerializer):
    enabled = serializers.BooleanField()


class ForwardingRequest(StrictSerializer):
    to_extension = serializers.RegexField(r"^[0-9]{2,15}$", allow_null=True, max_length=15)


class EmptyRequest(StrictSerializer):
    pass


# -- responses --------------------------------------------------------------------------------
class PendingSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    reason = serializers.CharField(allow_null=True)
    requested_at = serializers.DateTimeField()


class CapacitySerializer(serializers.Serializer):
    max = serializers.IntegerField(allow_null=True, help_text="null: unlimited")
    used = serializers.IntegerField()


class WrapUpSerializer(serializers.Serializer):
    interaction = serializers.IntegerField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True, help_text="null: no timer / extended")


class ChannelStateSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=CHANNELS)
    status = serializers.ChoiceField(choices=Status.choices)
    reason = serializers.CharField(allow_null=True)
    since = serializers.DateTimeField(allow_null=True)
    pending = PendingSerializer(allow_null=True)
    active_interactions = serializers.IntegerField()
    capacity = CapacitySerializer()
    wrap_up = WrapUpSerializer(allow_null=True)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    extension = serializers.CharField(allow_null=True)
    dnd = serializers.BooleanField()
    forward_to = serializers.CharField(allow_null=True)
    channels = ChannelStateSerializer(many=True)


class RuleRefSerializer(serializers.Serializer):
    ref = serializers.CharField()
    rule = serializers.CharField(help_text="The DOMAIN.md rule, e.g. R9")
    key = serializers.CharField()
    channel = serializers.CharField(allow_null=True)
    scope = serializers.ChoiceField(choices=["global", "role", "agent", "default"])
    id = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)


class EffectiveRuleSerializer(RuleRefSerializer):
    value = serializers.JSONField(allow_null=True)
    label = serializers.CharField()


class EffectiveRulesSerializer(serializers.Serializer):
    agent = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    rules = EffectiveRuleSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    rule = serializers.CharField(allow_null=True)
    fields = serializers.DictField(required=False)


# -- interactions (API.md, "Interactions") -------------------------------------------------------
class InteractionCreateRequest(StrictSerializer):
    channel = serializers.ChoiceField(choices=CHANNELS)
    contact = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True
    )
    direction = serializers.ChoiceField(choices=Direction.choices)
    agent = serializers.CharField(required=False, allow_null=True, max_length=150)
    extension = serializers.RegexField(
        r"^[0-9]{2,15}$", required=False, allow_null=True, max_length=15
    )
    to = serializers.CharField(required=False, allow_null=True, max_length=254)
    parent = serializers.IntegerField(min_value=1, max_value=2**62, required=False, allow_null=True)


class EndRequest(StrictSerializer):
    how = serializers.ChoiceField(choices=EndHow.choices)
    workbin = serializers.CharField(required=False, allow_null=True, max_length=64)


class AssistRequest(StrictSerializer):
    to = serializers.CharField(max_length=150)


class MessageRequest(StrictSerializer):
    text = serializers.CharField(max_length=10000, trim_whitespace=False)


class ImRequest(StrictSerializer):
    to = serializers.CharField(max_length=150)
    text = serializers.CharField(max_length=10000, trim_whitespace=False)


class DecisionRequest(StrictSerializer):
    agent = serializers.CharField(max_length=150)
    channel = serializers.ChoiceField(choices=CHANNELS)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)


class InteractionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=CHANNELS, source="channel_id")
    contact = serializers.IntegerField(source="contact_id", allow_null=True)
    direction = serializers.ChoiceField(choices=Direction.choices)
    state = serializers.ChoiceField(choices=InteractionState.choices)
    agent = serializers.CharField(source="agent.user.username")
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    kind = serializers.ChoiceField(choices=Kind.choices)
    forwarded_from = serializers.CharField(allow_null=True)
    to = serializers.CharField(source="to_address", allow_null=True)
    how = serializers.ChoiceField(choices=EndHow.choices, source="end_how", allow_null=True)
    workbin = serializers.CharField(source="workbin.name", read_only=True, allow_null=True)
    created_at = serializers.DateTimeField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    done_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    offer_expires_at = serializers.DateTimeField(source="offer_deadline", allow_null=True)


class ContactPointSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ContactPointKind.choices)
    value = serializers.CharField()
    allowed = serializers.BooleanField()
    code = serializers.ChoiceField(choices=REASON_CODES)
    rule = serializers.CharField(allow_null=True)


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    interaction = serializers.IntegerField(source="interaction_id")
    author = serializers.CharField(source="author.username", allow_null=True, default=None)
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class MessageWithPointsSerializer(MessageSerializer):
    contact_points = ContactPointSerializer(many=True)


class ContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    phones = serializers.ListField(child=serializers.CharField())
    emails = serializers.ListField(child=serializers.CharField())


class DecisionSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    code = serializers.ChoiceField(choices=REASON_CODES)
    rule = serializers.CharField(allow_null=True)
    forwarded_to = serializers.CharField(
        allow_null=True,
        required=False,
        help_text="R4: the extension voice work to this agent is forwarded to (decided on "
        "that agent), or null.",
    )


class ImMessageSerializer(serializers.Serializer):
    """An instant message from a colleague: its id (to acknowledge it), sender, text and time."""

    # ``from`` is a Python keyword, hence ``get_fields``.

    def get_fields(self):
        return {
            "id": serializers.CharField(
                help_text="The message's id (`<ms>-<seq>`, increasing); acknowledge up to it."
            ),
            "from": serializers.CharField(),
            "text": serializers.CharField(),
            "at": serializers.DateTimeField(),
        }


class ImInboxSerializer(serializers.Serializer):
    next = serializers.CharField(
        allow_null=True, help_text="The next page (`after` the last id here), or null."
    )
    previous = serializers.CharField(allow_null=True, help_text="Always null.")
    results = ImMessageSerializer(many=True, help_text="Oldest first; reading removes nothing.")


IM_ID_HELP = "A message id as the inbox gave it (`<ms>-<seq>`)."


class ImMessageIdField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=41, help_text=IM_ID_HELP, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not is_message_id(value):
            raise serializers.ValidationError("Not a message id.", code="invalid")
        return value


class ImInboxQuery(serializers.Serializer):
    after = ImMessageIdField(required=False)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=200, default=50, help_text="Messages per page."
    )


class ImAckRequest(StrictSerializer):
    up_to = ImMessageIdField()


class ImAckSerializer(serializers.Serializer):
    removed = serializers.IntegerField(help_text="Messages removed by this acknowledgement.")
    remaining = serializers.IntegerField(help_text="Messages still in the inbox.")


_OUT: dict[type, serializers.Serializer] = {}


def out(serializer_class: type[serializers.Serializer], obj) -> dict:
    """``serializer_class(obj).data`` for the hot paths' responses, without building (deep-copying)
    the serializer's fields on every request: one instance per class is kept and its
    ``to_representation`` reused; it keeps no per-call state and these serializers have no
    context."""
    serializer = _OUT.get(serializer_class)
    if serializer is None:
        serializer = _OUT.setdefault(serializer_class, serializer_class())
    return serializer.to_representation(obj)
