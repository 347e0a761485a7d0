"""Request validation and response shapes (API.md). Only documented fields are accepted:
unknown fields are refused (no mass assignment of ``agent``, ``state``, ``role``…)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from cc_rules.choices import RequestableStatus, Status
from cc_rules.engine.rulebook import CHANNELS


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, so a client cannot smuggle ``agent`` or ``state``."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}, code="unknown_field"
                )
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
