"""Interactions (API.md): offers, outbound, actions, consultation. Thin: validate, one service
call, render. Contacts, decisions, IM and messages have their own view modules."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import status as http
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules import scoping, selectors
from cc_rules.choices import InteractionState
from cc_rules.engine import reasons
from cc_rules.models import Agent, Contact, Interaction
from cc_rules.selectors import active_agent_named
from cc_rules.services import consultation
from cc_rules.services import interactions as svc
from cc_rules.services.errors import Forbidden, Invalid

from . import presenters
from .pagination import CursorPage
from .permissions import IsAgent, IsRouter, agent_of
from .serializers import (
    AssistRequest,
    ChannelStateSerializer,
    EmptyRequest,
    EndRequest,
    InteractionCreateRequest,
    InteractionSerializer,
    out,
)
from .views import ctx, errors, validated


def agent_named(username: str, field: str = "agent", *, seen_by=None) -> Agent:
    """The active agent ``username``, else 400 ``invalid`` on ``field``. With ``seen_by`` (a
    user), an agent that user may not see (cc_rules.scoping) gets the same answer as an unknown
    name, so the answer tells nobody which usernames exist."""
    agent = active_agent_named(username)
    if agent is not None and seen_by is not None and not scoping.may_see_agent(seen_by, agent):
        agent = None
    if agent is None:
        raise Invalid("invalid", f"No agent {username!r}.", None, fields={field: ["unknown"]})
    return agent


def _contact(contact_id: int | None) -> Contact | None:
    if contact_id is None:
        return None
    contact = selectors.contact(contact_id)
    if contact is None:
        raise Invalid("invalid", f"No contact {contact_id}.", None, fields={"contact": ["unknown"]})
    return contact


def _interactions():
    return Interaction.objects.select_related("agent__user", "workbin")


def _render(interaction: Interaction, code: int = 200) -> Response:
    """The interaction as the service left it; read again only if a relation the body names
    (agent and user, workbin) is not loaded yet."""
    loaded = (
        Interaction.agent.is_cached(interaction)
        and Agent.user.is_cached(interaction.agent)
        and (interaction.workbin_id is None or Interaction.workbin.is_cached(interaction))
    )
    if not loaded:
        interaction = _interactions().get(pk=interaction.pk)
    return Response(out(InteractionSerializer, interaction), status=code)


class InteractionFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=InteractionState.choices)
    channel = django_filters.CharFilter(field_name="channel_id")

    class Meta:
        model = Interaction
        fields = ["state", "channel"]


class InteractionsView(ListAPIView):
    """GET: the caller's own interactions. POST: offer inbound (router) or start outbound."""

    serializer_class = InteractionSerializer
    pagination_class = CursorPage
    filterset_class = InteractionFilter

    def get_permissions(self) -> list[BasePermission]:
        return [IsRouter()] if self._is_inbound_post() else [IsAgent()]

    def _is_inbound_post(self) -> bool:
        if self.request.method != "POST":
            return False
        data = self.request.data if isinstance(self.request.data, dict) else {}
        return data.get("direction") == "inbound"

    def get_queryset(self):
        agent = agent_of(self.request.user)
        return _interactions().filter(agent=agent)

    @extend_schema(responses={200: InteractionSerializer(many=True)} | errors(400, 401, 403))
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=InteractionCreateRequest,
        responses={201: InteractionSerializer}
        | errors(
            400,
            401,
            403,
            404,
            refusals=(
                *reasons.OFFER_CHECK_ORDER,
                reasons.NO_ELIGIBLE_AGENT,
                reasons.FORWARD_TARGET_UNAVAILABLE,
                reasons.PARENT_NOT_ACTIVE,
                reasons.CLICK_TO_CONTACT_DISABLED,
                reasons.NUMBER_TYPE_NOT_ALLOWED,
            ),
            note="Outbound (R10) never answers dnd_active, after_call_work or not_ready; "
            "parent_not_active: the `parent` is not active; click_to_contact_disabled and "
            "number_type_not_allowed (rule dialable_number_types): a `to` found only in the "
            "contact's chat messages (R11).",
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(InteractionCreateRequest, request)
        if data["direction"] == "inbound":
            unexpected = [f for f in ("to", "parent") if data.get(f) is not None]
            if unexpected:
                raise Invalid(
                    "invalid",
                    "Inbound offers take no to/parent.",
                    None,
                    fields={f: ["outbound_only"] for f in unexpected},
                )
            agent = agent_named(data["agent"]) if data.get("agent") else None
            if data.get("extension") and data["channel"] != "voice":
                raise Invalid(
                    "invalid",
                    "An extension is for voice offers.",
                    None,
                    fields={"extension": ["voice_only"]},
                )
            interaction = svc.offer_inbound(
                channel=data["channel"],
                contact=_contact(data.get("contact")),
                agent=agent,
                extension=data.get("extension"),
                **ctx(request),
            )
            return _render(interaction, http.HTTP_201_CREATED)
        me = agent_of(request.user)
        named = agent_named(data["agent"]) if data.get("agent") else None
        if named is not None and named.pk != me.pk:
            raise Forbidden("forbidden", "An agent may start outbound work only for themself.")
        if data.get("extension"):
            raise Invalid(
                "invalid",
                "Outbound work takes `to`, not an extension.",
                None,
                fields={"extension": ["inbound_only"]},
            )
        interaction = svc.start_outbound(
            me,
            channel=data["channel"],
            contact=_contact(data.get("contact")),
            to=data.get("to"),
            parent_id=data.get("parent"),
            **ctx(request),
        )
        return _render(interaction, http.HTTP_201_CREATED)


class InteractionDetailView(RetrieveAPIView):
    """The caller's own interaction, or a consultation they started (its two agents see it)."""

    permission_classes = [IsAgent]
    serializer_class = InteractionSerializer
    lookup_url_kwarg = "pk"

    def get_queryset(self):
        me = agent_of(self.request.user)
        return _interactions().filter(Q(agent=me) | Q(**consultation.started_by(me)))

    @extend_schema(responses={200: InteractionSerializer} | errors(401, 403, 404))
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class _Action(APIView):
    """POST /interactions/{id}/<action>/ on the caller's own interaction."""

    permission_classes = [IsAgent]
    service = None
    request_serializer = EmptyRequest

    @extend_schema(
        request=EmptyRequest,
        responses={200: InteractionSerializer} | errors(400, 401, 403, 404, 409),
    )
    def post(self, request: Request, pk: int) -> Response:
        validated(self.request_serializer, request)
        interaction = type(self).service(agent_of(request.user), pk, **ctx(request))
        return _render(interaction)


class AcceptView(_Action):
    service = staticmethod(svc.interaction_accept)

    @extend_schema(
        request=EmptyRequest,
        responses={200: InteractionSerializer}
        | errors(
            400,
            401,
            403,
            404,
            refusals=(reasons.OFFER_EXPIRED, reasons.INVALID_TRANSITION),
            note="offer_expired: accepted after the offer's deadline; the offer is now missed.",
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)


class RejectView(_Action):
    service = staticmethod(svc.interaction_reject)


class DoneView(_Action):
    service = staticmethod(svc.interaction_done)


class CloseView(_Action):
    service = staticmethod(svc.interaction_close)


class EndView(APIView):
    """End the caller's own interaction, or a consultation they started (either agent of a
    consultation may end it; DECISIONS.md, "Combinations")."""

    permission_classes = [IsAgent]

    @extend_schema(
        request=EndRequest,
        responses={200: InteractionSerializer}
        | errors(400, 401, 403, 404)
        | errors(refusals=(reasons.INVALID_TRANSITION,)),
    )
    def post(self, request: Request, pk: int) -> Response:
        data = validated(EndRequest, request)
        interaction = consultation.interaction_end_as_party(
            agent_of(request.user), pk, how=data["how"], workbin=data.get("workbin"), **ctx(request)
        )
        return _render(interaction)


class ExtendView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        request=EmptyRequest,
        responses={200: ChannelStateSerializer} | errors(400, 401, 403, 404, 409),
    )
    def post(self, request: Request, pk: int) -> Response:
        validated(EmptyRequest, request)
        result = svc.wrap_up_extend(agent_of(request.user), pk, **ctx(request))
        return Response(ChannelStateSerializer(presenters.channel_from_result(result)).data)


class _AssistView(APIView):
    permission_classes = [IsAgent]
    kind = ""

    @extend_schema(
        request=AssistRequest,
        responses={201: InteractionSerializer} | errors(400, 401, 403, 404, 409),
    )
    def post(self, request: Request, pk: int) -> Response:
        data = validated(AssistRequest, request)
        mate = agent_named(data["to"], field="to")
        child = svc.start_assist(
            agent_of(request.user), pk, kind=self.kind, to=mate, **ctx(request)
        )
        return _render(child, http.HTTP_201_CREATED)


class ConsultView(_AssistView):
    kind = "consultation"


class ConferenceView(_AssistView):
    kind = "conference"
