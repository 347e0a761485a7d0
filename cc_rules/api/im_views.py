"""IM between colleagues (R5): relayed, never stored; bounded inboxes, read then acknowledged."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from cc_rules.services import im as im_service
from cc_rules.services.errors import NotFound

from .errors import error_body
from .permissions import IsAgent, agent_of
from .serializers import (
    ErrorSerializer,
    ImAckRequest,
    ImAckSerializer,
    ImInboxQuery,
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
        responses={
            202: OpenApiResponse(description="relayed; never stored"),
            429: OpenApiResponse(
                ErrorSerializer,
                description="`inbox_full`: the colleague's inbox holds "
                "CC_IM_INBOX_MAX_MESSAGES messages or CC_IM_INBOX_MAX_BYTES bytes not yet "
                "acknowledged; nothing was sent (with `Retry-After`). Also `throttled`.",
            ),
            503: OpenApiResponse(
                ErrorSerializer, description="`im_unavailable`: Redis cannot be reached."
            ),
        }
        | errors(400, 401, 403, 404),
    )
    def post(self, request: Request) -> Response:
        data = validated(ImRequest, request)
        user = get_user_model().objects.filter(username=data["to"]).first()
        mate = agent_of(user) if user else None
        if mate is None:
            raise NotFound("not_found", "No such colleague.")
        try:
            im_service.send(agent_of(request.user), mate, data["text"])
        except im_service.InboxFull as full:
            # Not a stored answer for an Idempotency-Key (429): a retry once read may pass.
            return Response(
                error_body(full.code, full.detail),
                status=full.status,
                headers={"Retry-After": str(full.retry_after)},
            )
        return Response({}, status=http.HTTP_202_ACCEPTED)


class ImInboxView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        parameters=[ImInboxQuery],
        responses={200: ImInboxSerializer} | errors(400, 401, 403, 404),
        description="The oldest unacknowledged messages, `limit` (default 50, at most 200) "
        "after the id `after`. Reading removes nothing: the same messages come back until "
        "`POST /im/inbox/ack/` acknowledges them.",
    )
    def get(self, request: Request) -> Response:
        query = ImInboxQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        page = im_service.inbox(
            agent_of(request.user), after=query.validated_data.get("after"), limit=limit
        )
        next_link = None
        if page.more:
            url = request.build_absolute_uri()
            next_link = replace_query_param(url, "after", page.messages[-1]["id"])
        body = {"next": next_link, "previous": None, "results": page.messages}
        return Response(ImInboxSerializer(body).data)


class ImAckView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        request=ImAckRequest,
        responses={200: ImAckSerializer} | errors(400, 401, 403, 404),
        description="Remove the messages up to and including `up_to` (acknowledge what was "
        "shown). Messages that arrived later have later ids and stay. Acknowledging again is "
        "harmless (`removed: 0`).",
    )
    def post(self, request: Request) -> Response:
        data = validated(ImAckRequest, request)
        removed, remaining = im_service.ack(agent_of(request.user), data["up_to"])
        return Response(ImAckSerializer({"removed": removed, "remaining": remaining}).data)
