"""Agent (self) and supervisor endpoints. Each view validates input and makes one service call."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules import scoping
from cc_rules.engine import reasons
from cc_rules.models import Agent, AgentChannelState
from cc_rules.selectors import effective_rules
from cc_rules.services import status as status_service
from cc_rules.services.errors import NotFound

from . import presenters
from .pagination import CursorPage
from .permissions import IsAgent, IsSupervisor, agent_of
from .serializers import ChannelStateSerializer as ChannelState
from .serializers import (
    DndRequest,
    EffectiveRulesSerializer,
    EmptyRequest,
    ErrorSerializer,
    ForwardingRequest,
    LoginRequest,
    MeSerializer,
    StatusRequest,
    out,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="invalid"),
    401: OpenApiResponse(ErrorSerializer, description="not_authenticated"),
    403: OpenApiResponse(ErrorSerializer, description="forbidden"),
    404: OpenApiResponse(ErrorSerializer, description="not_found (also an invisible channel)"),
    409: OpenApiResponse(ErrorSerializer, description="a rule refused; `code` says which"),
}


def errors(*codes: int, refusals: tuple[str, ...] = (), note: str = "") -> dict:
    """Error responses for ``extend_schema``. ``refusals``: every 409 ``code`` the operation may
    carry, each described (``engine.reasons.DESCRIPTIONS``; API.md, "Errors")."""
    found = {c: ERRORS[c] for c in codes}
    if refusals:
        listed = "; ".join(
            f"`{code}`"
            + (f": {reasons.DESCRIPTIONS[code]}" if code in reasons.DESCRIPTIONS else "")
            for code in refusals
        )
        description = (
            f"a rule or the state refused; `code` is one of: {listed} (and "
            f"`request_in_progress` for a retry with the same Idempotency-Key). {note}"
        ).strip()
        found[409] = OpenApiResponse(ErrorSerializer, description=description)
    return found


def ctx(request: Request) -> dict:
    return {"actor": request.user, "request_id": getattr(request, "request_id", "")}


def validated(serializer_class, request: Request) -> dict:
    data = request.data if request.data is not None else {}
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class AgentView(APIView):
    permission_classes = [IsAgent]

    @property
    def agent(self) -> Agent:
        return agent_of(self.request.user)


class MeView(AgentView):
    @extend_schema(responses={200: MeSerializer} | errors(401, 403))
    def get(self, request: Request) -> Response:
        return Response(out(MeSerializer, presenters.me(self.agent)))


class MeEffectiveRulesView(AgentView):
    @extend_schema(responses={200: EffectiveRulesSerializer} | errors(401, 403))
    def get(self, request: Request) -> Response:
        agent = self.agent
        body = presenters.effective(agent, effective_rules(agent))
        return Response(EffectiveRulesSerializer(body).data)


class MeLoginView(AgentView):
    @extend_schema(request=LoginRequest, responses={200: MeSerializer} | errors(400, 401, 403, 404))
    def post(self, request: Request) -> Response:
        data = validated(LoginRequest, request)
        result = status_service.session_login(
            self.agent.pk, channels=data.get("channels"), **ctx(request)
        )
        return Response(MeSerializer(presenters.me_from_result(result)).data)


class MeLogoutView(AgentView):
    @extend_schema(request=EmptyRequest, responses={200: MeSerializer} | errors(400, 401, 403, 409))
    def post(self, request: Request) -> Response:
        validated(EmptyRequest, request)
        result = status_service.session_logout(self.agent.pk, **ctx(request))
        return Response(MeSerializer(presenters.me_from_result(result)).data)


class MeChannelStatusView(AgentView):
    @extend_schema(
        request=StatusRequest,
        responses={
            200: ChannelState,
            202: OpenApiResponse(ChannelState, description="held as pending (R8)"),
        }
        | errors(400, 401, 403, 404, 409),
    )
    def put(self, request: Request, channel: str) -> Response:
        data = validated(StatusRequest, request)
        result = status_service.channel_set_status(
            self.agent.pk, channel, status=data["status"], reason=data.get("reason"), **ctx(request)
        )
        body = presenters.channel_from_result(result)
        code = http.HTTP_202_ACCEPTED if result.held else 200
        return Response(out(ChannelState, body), status=code)


class MeDndView(AgentView):
    @extend_schema(request=DndRequest, responses={200: MeSerializer} | errors(400, 401, 403))
    def put(self, request: Request) -> Response:
        data = validated(DndRequest, request)
        result = status_service.agent_set_dnd(
            self.agent.pk, enabled=data["enabled"], **ctx(request)
        )
        return Response(MeSerializer(presenters.me_from_result(result)).data)


class MeForwardingView(AgentView):
    @extend_schema(request=ForwardingRequest, responses={200: MeSerializer} | errors(400, 401, 403))
    def put(self, request: Request) -> Response:
        data = validated(ForwardingRequest, request)
        result = status_service.agent_set_forwarding(
            self.agent.pk, to_extension=data["to_extension"], **ctx(request)
        )
        return Response(MeSerializer(presenters.me_from_result(result)).data)


# -- supervisor ---------------------------------------------------------------------------------
def _agents():
    return Agent.objects.select_related("user", "role").prefetch_related(
        Prefetch("channel_states", queryset=AgentChannelState.objects.order_by("channel_id"))
    )


def _agent_by_username(username: str, among) -> Agent:
    """The active agent ``username`` within ``among`` (the caller's scope: cc_rules.scoping).
    An agent outside it is answered exactly as an unknown one (404 ``not_found``): a supervisor
    learns nothing about other teams' agents, not even that the name exists."""
    # No stored name holds NUL (PostgreSQL text cannot): such a name is absent, not a 400.
    agent = None
    if "\x00" not in username:
        agent = among.filter(user__username=username, is_active=True).first()
    if agent is None:
        raise NotFound("not_found", f"No agent {username!r}.")
    return agent


class AgentsView(GenericAPIView):
    """The agents the caller sees: a supervisor their teams' agents, a superuser all."""

    permission_classes = [IsSupervisor]
    pagination_class = CursorPage
    serializer_class = MeSerializer

    def get_queryset(self):
        return scoping.visible_agents(self.request.user, _agents().filter(is_active=True))

    @extend_schema(responses={200: MeSerializer(many=True)} | errors(401, 403))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        body = [presenters.me(agent) for agent in page]
        return self.get_paginated_response(MeSerializer(body, many=True).data)


class AgentDetailView(APIView):
    """One agent's live state. An agent outside the caller's teams is 404 `not_found`, exactly
    as a name that does not exist (superusers see every agent)."""

    permission_classes = [IsSupervisor]

    @extend_schema(responses={200: MeSerializer} | errors(401, 403, 404))
    def get(self, request: Request, username: str) -> Response:
        agent = _agent_by_username(username, scoping.visible_agents(request.user, _agents()))
        return Response(MeSerializer(presenters.me(agent)).data)


class AgentChannelStatusView(APIView):
    """A forced status change, recorded with the supervisor as actor. An agent outside the
    caller's teams is 404 `not_found`, exactly as a name that does not exist (superusers act
    on every agent)."""

    permission_classes = [IsSupervisor]

    @extend_schema(
        request=StatusRequest,
        responses={200: ChannelState}
        | errors(
            400,
            401,
            403,
            404,
            refusals=(reasons.AGENT_NOT_LOGGED_IN, reasons.ACTIVE_INTERACTIONS),
        ),
    )
    def put(self, request: Request, username: str, channel: str) -> Response:
        data = validated(StatusRequest, request)
        agent = _agent_by_username(username, scoping.actionable_agents(request.user, _agents()))
        result = status_service.supervisor_force_status(
            agent.pk, channel, status=data["status"], reason=data.get("reason"), **ctx(request)
        )
        return Response(ChannelState(presenters.channel_from_result(result)).data)
