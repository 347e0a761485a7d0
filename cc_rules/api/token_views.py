"""Login and API tokens (API.md, "Authentication"; issue 15, items 2 and 3).

- ``POST /auth/token/`` {username, password, device?} → 200 {token, id, device, expires}: a new
  token for this device; the secret is shown only here.
- ``DELETE /auth/token/`` → 204: revokes the token the request came with.
- ``GET /auth/tokens/`` → the caller's live tokens (never the secret; ``current`` marks the one
  in use), paginated like every list.
- ``DELETE /auth/tokens/{id}/`` → 204: revokes one of the caller's tokens (404 otherwise).

Brute force: ``CC_THROTTLE_LOGIN`` per client IP (``LoginIPThrottle``) and django-axes' lockout
per IP *and* username after ``CC_LOGIN_FAILURE_LIMIT`` wrong passwords: 429 ``login_locked``
with ``Retry-After`` until the cool-off ends, even for the right password.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules.models import ApiToken
from cc_rules.services import tokens as token_service

from .pagination import CursorPage
from .parsers import JSONParser
from .serializers import ErrorSerializer, StrictSerializer
from .throttling import LoginIPThrottle, LoginLocked
from .views import errors, validated


class TokenRequest(StrictSerializer):
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    device = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="A name for this client."
    )


class TokenSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(help_text="The token this request came with.")

    class Meta:
        model = ApiToken
        fields = ["id", "device", "prefix", "created", "expires", "current"]

    def get_current(self, token: ApiToken) -> bool:
        auth = self.context.get("auth")
        return isinstance(auth, ApiToken) and auth.pk == token.pk


LOGIN_RESPONSE = inline_serializer(
    "TokenIssued",
    {
        "token": serializers.CharField(),
        "id": serializers.IntegerField(),
        "device": serializers.CharField(),
        "expires": serializers.DateTimeField(),
    },
)
LOCKED = OpenApiResponse(
    ErrorSerializer, description="`login_locked` (address and username locked out) or `throttled`"
)


class TokenView(APIView):
    parser_classes = [JSONParser]  # JSON in, like every endpoint

    def get_authenticators(self):
        if self.request is not None and self.request.method == "POST":
            return []  # logging in: a stale token header must not refuse the login
        return super().get_authenticators()

    def get_permissions(self):
        if self.request.method == "POST":
            return [AllowAny()]
        return super().get_permissions()

    def get_throttles(self):
        if self.request.method == "POST":
            return [LoginIPThrottle()]
        return super().get_throttles()

    @extend_schema(
        request=TokenRequest,
        responses={200: LOGIN_RESPONSE, 400: errors(400)[400], 429: LOCKED},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = validated(TokenRequest, request)
        # django-axes' backend runs first: it refuses a locked-out address+username and records
        # every failure (the admin's "Access attempts").
        user = authenticate(request=request, username=data["username"], password=data["password"])
        if user is None:
            if getattr(request, "axes_locked_out", False):
                raise LoginLocked.for_request(request)
            raise serializers.ValidationError(
                ["Unable to log in with provided credentials."], code="authorization"
            )
        token, secret = token_service.issue(user, device=data.get("device", ""))
        body = {"token": secret, "id": token.pk, "device": token.device}
        body["expires"] = serializers.DateTimeField().to_representation(token.expires)
        return Response(body)

    @extend_schema(request=None, responses={204: None} | errors(401, 404))
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            raise NotFound("No token in use (a session login).")
        ApiToken.objects.filter(pk=request.auth.pk).delete()
        return Response(status=http.HTTP_204_NO_CONTENT)


class TokenListView(GenericAPIView):
    pagination_class = CursorPage
    serializer_class = TokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the schema
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user, expires__gt=timezone.now())

    @extend_schema(responses={200: TokenSerializer(many=True)} | errors(401))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        data = TokenSerializer(page, many=True, context={"auth": request.auth}).data
        return self.get_paginated_response(data)


class TokenDetailView(APIView):
    @extend_schema(request=None, responses={204: None} | errors(401, 404))
    def delete(self, request: Request, pk: int) -> Response:
        deleted, _ = ApiToken.objects.filter(pk=pk, user=request.user).delete()
        if not deleted:
            raise NotFound("You have no such token.")
        return Response(status=http.HTTP_204_NO_CONTENT)
