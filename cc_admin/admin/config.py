"""Configuration admins: channels, roles (visibility, reason codes, role rules), workbins,
contacts. Every save here bumps the rules version (``cc_rules.signals``), so live sessions
read the new configuration on their next request."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.forms import CheckboxSelectMultiple

from cc_admin.forms import ReasonCodeInlineForm, ReasonCodeRowsFormSet, RoleRuleForm
from cc_rules.models import Channel, Contact, ContactPoint, ReasonCode, Role, Workbin

from .base import HistoryAdmin
from .rules import ScopedRuleInline
from .warnings import warn_after_save


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    """The eight channels of DOMAIN.md are fixed: no add, no delete; the code and whether
    content is kept (R5: IM never is) are facts, not settings."""

    list_display = ["code", "name", "visible_by_default", "retains_content", "role_list"]
    list_editable = ["visible_by_default"]
    list_display_links = ["code", "name"]
    readonly_fields = ["code", "retains_content"]
    fields = ["code", "name", "retains_content", "visible_by_default"]
    actions = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description="roles that see it")
    def role_list(self, obj: Channel) -> str:
        return ", ".join(str(r) for r in obj.roles.all()) or "—"


class ReasonCodeInline(admin.TabularInline):
    model = ReasonCode
    form = ReasonCodeInlineForm
    formset = ReasonCodeRowsFormSet
    fields = ["code", "label"]
    extra = 0
    verbose_name = "Not Ready reason code of this role"
    verbose_name_plural = "Not Ready reason codes of this role (none: the global codes apply)"


class RoleRuleInline(ScopedRuleInline):
    fk_name = "role"
    form = RoleRuleForm
    verbose_name = "role rule"
    verbose_name_plural = "Rules of this role (no row: the global rule or default applies)"


@admin.register(Role)
class RoleAdmin(HistoryAdmin):
    list_display = ["name", "label", "channels", "agent_count", "rule_count"]
    search_fields = ["name", "label"]
    list_filter = ["visible_channels"]
    filter_horizontal = ["visible_channels"]
    fields = ["name", "label", "visible_channels"]
    inlines = [ReasonCodeInline, RoleRuleInline]
    history_list_display = ["label"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("visible_channels")
            .annotate(_agents=Count("agents", distinct=True), _rules=Count("rules", distinct=True))
        )

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        warn_after_save(request, role=form.instance)  # issue 16, item 4

    @admin.display(description="visible channels (R1)")
    def channels(self, obj: Role) -> str:
        codes = [c.code for c in obj.visible_channels.all()]
        return ", ".join(codes) if codes else "(inherits the channels visible by default)"

    @admin.display(description="agents", ordering="_agents")
    def agent_count(self, obj: Role) -> int:
        return obj._agents

    @admin.display(description="role rules", ordering="_rules")
    def rule_count(self, obj: Role) -> int:
        return obj._rules


@admin.register(ReasonCode)
class ReasonCodeAdmin(HistoryAdmin):
    list_display = ["code", "label", "scope"]
    list_filter = [("role", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["code", "label", "role__name"]
    fields = ["code", "label", "role"]
    list_select_related = ["role"]

    @admin.display(description="applies to", ordering="role__name")
    def scope(self, obj: ReasonCode) -> str:
        return f"role {obj.role}" if obj.role_id else "global (roles without their own codes)"


@admin.register(Workbin)
class WorkbinAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "channel_list"]
    search_fields = ["name", "label"]
    fields = ["name", "label", "channels"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "channels":
            kwargs["widget"] = CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("channels")

    @admin.display(description="channels")
    def channel_list(self, obj: Workbin) -> str:
        return ", ".join(c.code for c in obj.channels.all()) or "—"


class ContactPointInline(admin.TabularInline):
    model = ContactPoint
    fields = ["kind", "value"]
    extra = 1


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "phones", "emails"]
    search_fields = ["name", "points__value"]
    inlines = [ContactPointInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("points")

    @admin.display(description="phone numbers")
    def phones(self, obj: Contact) -> str:
        return ", ".join(p.value for p in obj.points.all() if p.kind == "phone") or "—"

    @admin.display(description="e-mail addresses")
    def emails(self, obj: Contact) -> str:
        return ", ".join(p.value for p in obj.points.all() if p.kind == "email") or "—"
