"""``/decisions/offer/``: what a real offer would answer now, without side effects."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules import metrics, selectors
from cc_rules.permissions_setup import ROUTER

from . import presenters
from .interaction_views import agent_named
from .permissions import IsRouterOrSupervisor, in_group
from .serializers import (
    DecisionRequest,
    DecisionSerializer,
    out,
)
from .views import errors, validated


# -- decisions ----------------------------------------------------------------------------------
class DecisionOfferView(APIView):
    """``POST /decisions/offer/``: the engine's answer, without side effects.

    Only the router, supervisors and admins may ask; everyone else gets 403 before the body
    is read or an agent looked up (issue 15: a 400 for an unknown name and a 403 for a known
    one told any logged-in user which usernames exist). The router and admins ask about any
    agent; a supervisor about their teams' agents only: another team's agent is answered as an
    unknown name (400 ``invalid``, issue 16).
    """

    permission_classes = [IsRouterOrSupervisor]

    @extend_schema(
        operation_id="decideOffer",
        request=DecisionRequest,
        responses={200: DecisionSerializer} | errors(400, 401, 403),
    )
    def post(self, request: Request) -> Response:
        data = validated(DecisionRequest, request)
        user = request.user
        unscoped = user.is_superuser or in_group(user, ROUTER)
        agent = agent_named(data["agent"], seen_by=None if unscoped else user)
        found = selectors.offer_decision(
            agent, data["channel"], outbound=data.get("direction") == "outbound"
        )
        metrics.count_decision("query", found.decision.code, found.decision.rule)
        return Response(out(DecisionSerializer, presenters.offer_decision(found)))
