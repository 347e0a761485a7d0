"""IM between colleagues (R5): relayed, never stored."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules.services import im as im_service
from cc_rules.services.errors import NotFound

from .permissions import IsAgent, agent_of
from .serializers import (
    ImInboxSerializer,
    ImRequest,
)
from .views import errors, validated


# -- IM (R5) ------------------------------------------------------------------------------------
class ImSendView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="sendIm",
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
