"""``/decisions/offer/``: what a real offer would answer now, without side effects."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules import selectors
from cc_rules.services.errors import Forbidden

from . import presenters
from .interaction_views import agent_named
from .permissions import IsRouter, IsSupervisor, agent_of
from .serializers import (
    DecisionRequest,
    DecisionSerializer,
    out,
)
from .views import errors, validated


# -- decisions ----------------------------------------------------------------------------------
class DecisionOfferView(APIView):
    """``POST /decisions/offer/``: the engine's answer, without side effects.

    The router, supervisors and admins may ask about anyone; an agent only about themself.
    """

    @extend_schema(
        operation_id="decideOffer",
        request=DecisionRequest,
        responses={200: DecisionSerializer} | errors(400, 401, 403),
    )
    def post(self, request: Request) -> Response:
        data = validated(DecisionRequest, request)
        agent = agent_named(data["agent"])
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
