"""Configuration admins: channels, roles (visibility, reason codes, role rules), workbins,
contacts. Every save here bumps the rules version (``cc_rules.signals``), so live sessions
read the new configuration on their next request."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.forms import CheckboxSelectMultiple

from cc_admin.forms import ReasonCodeInlineForm, ReasonCodeRowsFormSet
from cc_admin.rule_matrix import Target
from cc_admin.rule_matrix.pages import RuleMatrixAdminMixin
from cc_rules.models import Channel, Contact, ContactPoint, ReasonCode, Role, Workbin

from .base import HistoryAdmin
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


@admin.register(Role)
class RoleAdmin(RuleMatrixAdminMixin, HistoryAdmin):
    """A role: its name, then (once saved) its channels and rules as a matrix of channels by
    concepts (``cc_admin.rule_matrix``), and its Not Ready reason codes."""

    list_display = ["name", "label", "channels", "agent_count", "rule_count"]
    search_fields = ["name", "label"]
    list_filter = ["visible_channels"]
    filter_horizontal = ["visible_channels"]
    inlines = [ReasonCodeInline]
    history_list_display = ["label"]

    def get_fields(self, request, obj=None):
        # visible channels are the matrix's "Sees" column once the role exists
        return ["name", "label"] if obj is not None else ["name", "label", "visible_channels"]

    def matrix_target(self, obj: Role) -> Target:
        return Target.for_role(obj)

    def save_model(self, request, obj: Role, form, change: bool) -> None:
        if change and not form.has_changed():
            return  # a save that changes nothing writes no history row
        super().save_model(request, obj, form, change)

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
