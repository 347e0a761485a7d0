"""``GET /config/warnings/``: the configuration's cross-rule warnings (issue 16, item 4).

The same list as the admin's "Check configuration" page (``cc_rules.engine.config_check``),
for superusers, e.g. after ``import_rules`` in a deployment script. ``?role=<name>`` or
``?agent=<username>`` narrows it to what concerns that role (and its agents) or that agent.
One page: the list is as long as the configuration is wrong, never a table's length.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules.engine.config_check import CODES
from cc_rules.models import Agent, Role
from cc_rules.selectors import check_configuration
from cc_rules.services.errors import Invalid

from .serializers import StrictSerializer
from .views import errors


class IsSuperuser(BasePermission):
    message = "Only admins may check the configuration."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_superuser)


class WarningsQuery(StrictSerializer):
    role = serializers.CharField(max_length=64, required=False, help_text="A role's name.")
    agent = serializers.CharField(max_length=150, required=False, help_text="A username.")


class ConfigWarningTargetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ConfigWarningSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=CODES, help_text="Stable: what kind of problem.")
    rule = serializers.CharField(help_text="The R-number of DOMAIN.md.")
    # a plain string: a ChoiceField would collide with the effective rules' ScopeEnum
    scope = serializers.CharField(help_text="global, role or agent: where it is caused and fixed.")
    role = ConfigWarningTargetSerializer(
        allow_null=True, help_text="The role (an agent's: their role)."
    )
    agent = ConfigWarningTargetSerializer(allow_null=True)
    channel = serializers.CharField(allow_null=True)
    key = serializers.CharField(allow_null=True, help_text="The rule key to change.")
    rule_ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="Rule rows at that scope behind it."
    )
    message = serializers.CharField()
    fix = serializers.CharField()


class ConfigWarningsPage(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ConfigWarningSerializer(many=True)


class ConfigWarningsView(APIView):
    permission_classes = [IsSuperuser]

    @extend_schema(
        operation_id="configWarnings",
        parameters=[
            OpenApiParameter("role", OpenApiTypes.STR, description="A role's name."),
            OpenApiParameter("agent", OpenApiTypes.STR, description="An agent's username."),
        ],
        responses={200: ConfigWarningsPage} | errors(400, 401, 403),
    )
    def get(self, request: Request) -> Response:
        query = WarningsQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        role = agent = None
        if "role" in data:
            role = Role.objects.filter(name=data["role"]).first()
            if role is None:
                raise Invalid(detail="No such role.", fields={"role": ["No such role."]})
        if "agent" in data:
            agent = Agent.objects.filter(user__username=data["agent"]).first()
            if agent is None:
                raise Invalid(detail="No such agent.", fields={"agent": ["No such agent."]})
        found = check_configuration(role=role, agent=agent)
        return Response({"next": None, "previous": None, "results": [w.as_dict() for w in found]})
