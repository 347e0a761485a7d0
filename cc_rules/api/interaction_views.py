"""Interactions, contacts, decisions and IM (API.md). Thin: validate, one service call, render."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules import selectors
from cc_rules.choices import InteractionState
from cc_rules.engine import reasons
from cc_rules.models import Agent, Contact, Interaction
from cc_rules.selectors import active_agent_named
from cc_rules.services import consultation
from cc_rules.services import im as im_service
from cc_rules.services import interactions as svc
from cc_rules.services.errors import Forbidden, Invalid, NotFound

from . import presenters
from .pagination import CursorPage
from .permissions import IsAgent, IsRouter, IsSupervisor, agent_of
from .serializers import (
    AssistRequest,
    ChannelStateSerializer,
    ContactSerializer,
    DecisionRequest,
    DecisionSerializer,
    EmptyRequest,
    EndRequest,
    ErrorSerializer,
    ImInboxSerializer,
    ImRequest,
    InteractionCreateRequest,
    InteractionSerializer,
    out,
)
from .views import ctx, errors, validated


def conflicts(*codes: str, note: str = "") -> dict:
    """The 409 answer of an operation, naming every ``code`` it may carry (API.md, "Errors")."""
    listed = ", ".join(f"`{code}`" for code in codes)
    description = (
        f"a rule or the state refused; `code` is one of: {listed} (and `request_in_progress` "
        f"for a retry with the same Idempotency-Key). {note}"
    ).strip()
    return {409: OpenApiResponse(ErrorSerializer, description=description)}


def _agent_named(username: str, field: str = "agent") -> Agent:
    agent = active_agent_named(username)
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
        | errors(400, 401, 403, 404)
        | conflicts(
            *reasons.OFFER_CHECK_ORDER,
            reasons.NO_ELIGIBLE_AGENT,
            reasons.FORWARD_TARGET_UNAVAILABLE,
            reasons.PARENT_NOT_ACTIVE,
            reasons.CLICK_TO_CONTACT_DISABLED,
            reasons.NUMBER_TYPE_NOT_ALLOWED,
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
            agent = _agent_named(data["agent"]) if data.get("agent") else None
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
        named = _agent_named(data["agent"]) if data.get("agent") else None
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
        | conflicts(reasons.INVALID_TRANSITION),
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
        mate = _agent_named(data["to"], field="to")
        child = svc.start_assist(
            agent_of(request.user), pk, kind=self.kind, to=mate, **ctx(request)
        )
        return _render(child, http.HTTP_201_CREATED)


class ConsultView(_AssistView):
    kind = "consultation"


class ConferenceView(_AssistView):
    kind = "conference"


# -- contacts -----------------------------------------------------------------------------------
class CanSeeContacts(BasePermission):
    message = "Only agents, supervisors and the router see contacts."

    def has_permission(self, request, view) -> bool:
        return any(p().has_permission(request, view) for p in (IsAgent, IsSupervisor, IsRouter))


def _contact_body(contact: Contact) -> dict:
    points = list(contact.points.all())
    return {
        "id": contact.pk,
        "name": contact.name,
        "phones": [p.value for p in points if p.kind == "phone"],
        "emails": [p.value for p in points if p.kind == "email"],
    }


class ContactsView(GenericAPIView):
    permission_classes = [CanSeeContacts]
    pagination_class = CursorPage
    serializer_class = ContactSerializer

    def get_queryset(self):
        query = Contact.objects.prefetch_related("points")
        term = self.request.query_params.get("search", "").strip()[:200]
        if term:
            query = query.filter(
                Q(name__icontains=term) | Q(points__value__icontains=term)
            ).distinct()
        return query

    @extend_schema(responses={200: ContactSerializer(many=True)} | errors(401, 403))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            ContactSerializer([_contact_body(c) for c in page], many=True).data
        )


class ContactDetailView(APIView):
    permission_classes = [CanSeeContacts]

    @extend_schema(responses={200: ContactSerializer} | errors(401, 403, 404))
    def get(self, request: Request, pk: int) -> Response:
        contact = Contact.objects.prefetch_related("points").filter(pk=pk).first()
        if contact is None:
            raise NotFound("not_found", "No such contact.")
        return Response(ContactSerializer(_contact_body(contact)).data)


# -- decisions ----------------------------------------------------------------------------------
class DecisionOfferView(APIView):
    """``POST /decisions/offer/``: the engine's answer, without side effects.

    The router, supervisors and admins may ask about anyone; an agent only about themself.
    """

    @extend_schema(
        request=DecisionRequest, responses={200: DecisionSerializer} | errors(400, 401, 403)
    )
    def post(self, request: Request) -> Response:
        data = validated(DecisionRequest, request)
        agent = _agent_named(data["agent"])
        privileged = IsRouter().has_permission(request, self) or IsSupervisor().has_permission(
            request, self
        )
        me = agent_of(request.user)
        if not privileged and (me is None or me.pk != agent.pk):
            raise Forbidden("forbidden", "Agents may ask only about themselves.")
        found = selectors.offer_decision(
            agent, data["channel"], outbound=data.get("direction") == "outbound"
        )
        return Response(out(DecisionSerializer, presenters.offer_decision(found)))


# -- IM (R5) ------------------------------------------------------------------------------------
class ImSendView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        request=ImRequest,
        responses={202: OpenApiResponse(description="relayed; never stored")}
        | errors(400, 401, 403, 404),
    )
    def post(self, request: Request) -> Response:
        data = validated(ImRequest, request)
        user = get_user_model().objects.filter(username=data["to"]).first()
        mate = agent_of(user) if user else None
        if mate is None:
            raise NotFound("not_found", "No such colleague.")
        im_service.send(agent_of(request.user), mate, data["text"])
        return Response({}, status=http.HTTP_202_ACCEPTED)


class ImInboxView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(responses={200: ImInboxSerializer} | errors(401, 403, 404))
    def get(self, request: Request) -> Response:
        messages = im_service.inbox(agent_of(request.user))
        return Response(
            ImInboxSerializer({"next": None, "previous": None, "results": messages}).data
        )
