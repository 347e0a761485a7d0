"""The matrix in the admin: on the role and agent change pages, and the "Global defaults" page.

Every save of a matrix goes through ``MatrixSaveMixin.save_matrix``, the one place where the
rows are written and then the after-save hooks run (``after_matrix_saved``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from .form import RuleMatrixForm
from .scope import Target

# A user changes rules on these pages only with every rule permission (superusers have them).
RULE_WRITE_PERMS = ("cc_rules.add_rule", "cc_rules.change_rule", "cc_rules.delete_rule")
MATRIX_INVALID = "The rules table has errors; each one is shown next to its cell below."


class MatrixSaveMixin:
    """The single save path of every rule matrix (role, agent, global)."""

    def save_matrix(self, request, matrix: RuleMatrixForm, obj: Any) -> list[str]:
        """Write the matrix's changes (one transaction), say what changed, run the hooks.

        ``obj`` is the Role or Agent of the page, None on the global page.
        """
        changes = matrix.save()
        if changes:
            messages.info(request, "Rules changed: " + "; ".join(changes) + ".")
        # ---- after a successful save: hooks run here, inside the page's transaction ------------
        self.after_matrix_saved(request, obj)
        return changes

    def after_matrix_saved(self, request, obj: Any) -> None:
        """Hook: runs after every successful matrix save, whether or not a row changed.

        ``obj`` is the Role, the Agent, or None for the global defaults. The rule admin uses it
        for the cross-rule warnings of the global page (issue 16, item 4); the role and agent
        pages warn from their admins' ``save_related``, after everything on the page is saved.
        """


class MatrixHostForm(forms.ModelForm):
    """A role's or agent's admin form that carries the matrix and is invalid while it is."""

    matrix_target: Target
    matrix_editable: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        prefix = f"{RuleMatrixForm.prefix}-"
        # a POST without the table (a script changing only the agent's role) changes no rule
        sent = self.is_bound and any(str(name).startswith(prefix) for name in self.data)
        self.matrix = RuleMatrixForm(
            self.matrix_target,
            data=self.data if sent else None,
            editable=self.matrix_editable,
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.matrix.is_bound and not self.matrix.is_valid():
            raise ValidationError(MATRIX_INVALID)
        return data


class RuleMatrixAdminMixin(MatrixSaveMixin):
    """A ModelAdmin (Role, Agent) whose change page edits its scope's rules as a matrix.

    The add page has no matrix: the role or agent is saved first, then its rules are set.
    """

    matrix_edit_perms: tuple[str, ...] = RULE_WRITE_PERMS

    def matrix_target(self, obj: Any) -> Target:
        raise NotImplementedError

    def matrix_editable(self, request, obj: Any) -> bool:
        return bool(
            self.has_change_permission(request, obj)  # type: ignore[attr-defined]
            and request.user.has_perms(self.matrix_edit_perms)
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        if obj is None or not change:
            return form  # the add page, and simple-history's revert form: no matrix
        attrs = {
            "matrix_target": self.matrix_target(obj),
            "matrix_editable": self.matrix_editable(request, obj),
        }
        return type(form.__name__, (MatrixHostForm, form), attrs)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        matrix = getattr(form, "matrix", None)
        if matrix is not None and matrix.is_bound and matrix.editable:
            self.save_matrix(request, matrix, form.instance)

    def response_add(self, request, obj, post_url_continue=None):
        # As Django's UserAdmin does: after adding, continue to the change page (the rules)
        if "_addanother" not in request.POST and IS_POPUP_VAR not in request.POST:
            request.POST = request.POST.copy()
            request.POST["_continue"] = 1
        return super().response_add(request, obj, post_url_continue)  # type: ignore[misc]

    def construct_change_message(self, request, form, formsets, add=False):
        message = super().construct_change_message(request, form, formsets, add)  # type: ignore[misc]
        matrix = getattr(form, "matrix", None)
        if matrix is not None and matrix.change_words:
            message.append({"changed": {"fields": matrix.change_words}})
        return message


class GlobalDefaultsMixin(MatrixSaveMixin):
    """The "Global defaults" page on the rule admin: the matrix of the global scope."""

    def global_defaults_editable(self, request) -> bool:
        return bool(
            self.has_change_permission(request)  # type: ignore[attr-defined]
            and request.user.has_perms((*RULE_WRITE_PERMS, "cc_rules.change_channel"))
        )

    def global_defaults_view(self, request):
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        editable = self.global_defaults_editable(request)
        if request.method == "POST":
            if not editable:
                raise PermissionDenied
            with transaction.atomic():
                matrix = RuleMatrixForm(Target.everyone(), data=request.POST)
                if matrix.is_valid():
                    self.save_matrix(request, matrix, None)
                    if not matrix.change_words:
                        messages.info(request, "Nothing changed.")
                    return redirect(reverse("admin:cc_rules_rule_global"))
        else:
            matrix = RuleMatrixForm(Target.everyone(), editable=editable)
        opts = self.opts  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": "Global defaults",
            "subtitle": None,
            "opts": opts,
            "matrix": matrix,
            "editable": editable,
            "errors": matrix.errors if matrix.is_bound else None,
        }
        request.current_app = self.admin_site.name  # type: ignore[attr-defined]
        return TemplateResponse(request, "cc_admin/rule_matrix/global.html", context)
