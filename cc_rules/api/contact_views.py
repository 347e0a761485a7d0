"""Contacts (API.md): the router, agents and supervisors look them up."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cc_rules.models import Contact
from cc_rules.services.errors import Invalid, NotFound

from .pagination import CursorPage
from .permissions import IsAgent, IsRouter, IsSupervisor
from .serializers import (
    ContactSerializer,
)
from .views import errors


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
        if "\x00" in term:  # PostgreSQL text cannot hold it: refused here, not by the database
            raise Invalid(
                "invalid",
                "Some fields are invalid.",
                fields={"search": ["Null characters are not allowed."]},
            )
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
