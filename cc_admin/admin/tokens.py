"""API tokens (issue 15, item 3): listed for admins, revoked by the "Revoke" action or delete.

Tokens are issued only by logging in (``POST /api/v1/auth/token/``): the secret is shown once
and never stored, so the admin cannot add or show one. Failed logins and lockouts are django-axes'
pages ("Axes": access attempts, access failures, access logs).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from cc_rules.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix_shown", "user", "device", "created", "expires", "live"]
    list_filter = ["device", "expires"]
    search_fields = ["user__username", "device", "prefix"]
    list_select_related = ["user"]
    readonly_fields = ["user", "prefix", "device", "created", "expires"]
    fields = readonly_fields
    actions = ["revoke"]
    date_hierarchy = "created"

    @admin.display(description="token")
    def prefix_shown(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    @admin.display(boolean=True, description="live")
    def live(self, token: ApiToken) -> bool:
        return token.expires > timezone.now()

    @admin.action(description="Revoke the selected tokens", permissions=["delete"])
    def revoke(self, request, queryset) -> None:
        count, _ = queryset.delete()
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
