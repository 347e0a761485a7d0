"""Who may call what. Object-level rule: an agent only ever reaches their own session."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from cc_rules.permissions_setup import COMPLIANCE, ROUTER, SUPERVISOR
from cc_rules.scoping import in_group


def agent_of(user):
    """The caller's active Agent row, or None."""
    if not user or not user.is_authenticated:
        return None
    try:
        agent = user.agent
    except Exception:  # RelatedObjectDoesNotExist
        return None
    return agent if agent.is_active else None


class IsAgent(BasePermission):
    message = "Only agents have a session."

    def has_permission(self, request, view) -> bool:
        return agent_of(request.user) is not None


class IsSupervisor(BasePermission):
    message = "Only supervisors may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and (user.is_superuser or in_group(user, SUPERVISOR))
        )


class IsRouter(BasePermission):
    message = "Only the router service account may offer inbound work."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and (user.is_superuser or in_group(user, ROUTER))
        )


class IsRouterOrSupervisor(BasePermission):
    """``/decisions/offer/``: the router, supervisors and superusers (issue 15). Anyone else is
    refused before the body is read, so the answer cannot tell which usernames exist."""

    message = "Only the router, supervisors and admins may ask for offer decisions."

    def has_permission(self, request, view) -> bool:
        return IsRouter().has_permission(request, view) or IsSupervisor().has_permission(
            request, view
        )


class IsAuditor(BasePermission):
    message = "Only compliance staff, supervisors and admins read the audit."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and (user.is_superuser or in_group(user, COMPLIANCE) or in_group(user, SUPERVISOR))
        )
