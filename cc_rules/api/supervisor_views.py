"""Supervisor actions on one agent besides the forced status (issue 16, item 2; API.md
"Supervisor"): log the agent out, turn DND off, extend or end a channel's wrap-up.

Each view checks who may act on which agent (``cc_rules.scoping.actionable_agents``: a
supervisor on their teams' agents, superusers on all; any other agent is 404 ``not_found``, as
if absent), validates the body and makes one service call (``services.supervisor``).
``Idempotency-Key`` is handled for every POST and PUT by ``api.idempotency``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules import scoping
from cc_rules.engine import reasons
from cc_rules.models import Agent
from cc_rules.services import supervisor as svc
from cc_rules.services.errors import NotFound

from . import presenters
from .permissions import IsSupervisor
from .serializers import (
    ChannelStateSerializer,
    DndRequest,
    EmptyRequest,
    ErrorSerializer,
    MeSerializer,
    out,
)
from .views import ctx, errors, validated


def actionable_agent_id(request: Request, username: str) -> int:
    """The id of the active agent ``username`` if the caller may act on them; else 404 (another
    team's agent is as absent as an unknown name)."""
    found = None
    if "\x00" not in username:  # no stored name holds NUL (PostgreSQL text cannot)
        named = Agent.objects.filter(user__username=username, is_active=True)
        found = scoping.actionable_agents(request.user, named).values_list("pk", flat=True).first()
    if found is None:
        raise NotFound("not_found", f"No agent {username!r}.")
    return found


class SupervisorDndRequest(DndRequest):
    """``enabled`` must be false: a supervisor turns DND off, never on (R3)."""


def _bad_dnd() -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description="`invalid`: a malformed body; `dnd_on_not_allowed`: `enabled` is true (a "
        "supervisor only turns do-not-disturb off)",
    )


class AgentLogoutView(APIView):
    """Log every channel of the agent off and turn DND off (cause `supervisor`); 409
    `active_interactions` while work is open."""

    permission_classes = [IsSupervisor]

    @extend_schema(
        request=EmptyRequest,
        responses={200: MeSerializer}
        | errors(400, 401, 403, 404, refusals=(reasons.ACTIVE_INTERACTIONS,)),
    )
    def post(self, request: Request, username: str) -> Response:
        agent_id = actionable_agent_id(request, username)
        validated(EmptyRequest, request)
        result = svc.supervisor_logout(agent_id, **ctx(request))
        return Response(out(MeSerializer, presenters.me_from_result(result)))


class AgentDndView(APIView):
    """Turn the agent's do-not-disturb off (`{"enabled": false}`); `true` → 400
    `dnd_on_not_allowed`. Already off: 200, nothing recorded."""

    permission_classes = [IsSupervisor]

    @extend_schema(
        request=SupervisorDndRequest,
        responses={200: MeSerializer} | errors(401, 403, 404) | {400: _bad_dnd()},
    )
    def put(self, request: Request, username: str) -> Response:
        agent_id = actionable_agent_id(request, username)
        data = validated(SupervisorDndRequest, request)
        result = svc.supervisor_set_dnd(agent_id, enabled=data["enabled"], **ctx(request))
        return Response(out(MeSerializer, presenters.me_from_result(result)))


class AgentWrapUpExtendView(APIView):
    """Extend the channel's after-call work indefinitely (R15): the deadline is cleared."""

    permission_classes = [IsSupervisor]

    @extend_schema(
        request=EmptyRequest,
        responses={200: ChannelStateSerializer}
        | errors(
            400,
            401,
            403,
            404,
            refusals=(reasons.INVALID_TRANSITION, reasons.WRAP_UP_NOT_EXTENDABLE),
            note="`invalid_transition`: the channel is not in after-call work.",
        ),
    )
    def post(self, request: Request, username: str, channel: str) -> Response:
        agent_id = actionable_agent_id(request, username)
        validated(EmptyRequest, request)
        result = svc.supervisor_wrap_up_extend(agent_id, channel, **ctx(request))
        return Response(out(ChannelStateSerializer, presenters.channel_from_result(result)))


class AgentWrapUpEndView(APIView):
    """End the channel's after-call work now: it lands where the wrap-up timer would (a held
    pending status, else the not-ready status it had before, else the after-timer status)."""

    permission_classes = [IsSupervisor]

    @extend_schema(
        request=EmptyRequest,
        responses={200: ChannelStateSerializer}
        | errors(
            400,
            401,
            403,
            404,
            refusals=(reasons.INVALID_TRANSITION,),
            note="`invalid_transition`: the channel is not in after-call work.",
        ),
    )
    def post(self, request: Request, username: str, channel: str) -> Response:
        agent_id = actionable_agent_id(request, username)
        validated(EmptyRequest, request)
        result = svc.supervisor_wrap_up_end(agent_id, channel, **ctx(request))
        return Response(out(ChannelStateSerializer, presenters.channel_from_result(result)))
