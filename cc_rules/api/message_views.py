"""Chat transcripts (R5) and the contact points a contact's message offers (R11; API.md,
"Interactions"). Thin: validate, one service call, render."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status as http
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from cc_rules.engine import reasons
from cc_rules.models import Message
from cc_rules.services.messages import post_message, transcript

from .pagination import CursorPage
from .permissions import IsAgent, IsRouter, agent_of
from .serializers import MessageRequest, MessageSerializer, MessageWithPointsSerializer
from .views import ctx, errors, validated


class IsAgentOrRouter(BasePermission):
    def has_permission(self, request, view) -> bool:
        return IsAgent().has_permission(request, view) or IsRouter().has_permission(request, view)


class MessagesView(GenericAPIView):
    """GET: the transcript the caller may read. POST: add a message (R5) and list the contact
    points it offers (R11). Both agents of a consultation read and write it; the router (the
    contact's side) gets 404 on a consultation (DECISIONS.md, "Combinations")."""

    permission_classes = [IsAgentOrRouter]
    pagination_class = CursorPage
    serializer_class = MessageSerializer

    def _caller(self) -> dict:
        user = self.request.user
        # The router account (or an admin) writes the contact's side; an agent who is a party
        # to the interaction writes as themself (services/messages.py decides which applies).
        return {"agent": agent_of(user), "router": IsRouter().has_permission(self.request, self)}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model only
            return Message.objects.none()
        return transcript(self.kwargs["pk"], **self._caller())

    @extend_schema(responses={200: MessageSerializer(many=True)} | errors(400, 401, 403, 404))
    def get(self, request: Request, pk: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(
        request=MessageRequest,
        responses={201: MessageWithPointsSerializer}
        | errors(
            400,
            401,
            403,
            404,
            refusals=(reasons.INVALID_TRANSITION,),
            note="Refused contact points are listed with allowed false and their code, never 409.",
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        data = validated(MessageRequest, request)
        message, points = post_message(pk, text=data["text"], **self._caller(), **ctx(request))
        message.contact_points = points
        return Response(MessageWithPointsSerializer(message).data, status=http.HTTP_201_CREATED)
