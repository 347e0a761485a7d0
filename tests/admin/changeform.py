"""Build the POST body an admin change form would send, from the page Django rendered.

Tests then change only the fields they care about, the way a person edits a page, instead of
re-typing every field and management-form count by hand.
"""

from __future__ import annotations

from typing import Any

from django import forms


def _form_fields(form: forms.BaseForm) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()  # already prepared for the widget (JSON text, pks)
        key = form.add_prefix(name)
        if isinstance(field, forms.BooleanField):
            if value:
                data[key] = "on"
        elif isinstance(value, list | tuple):
            data[key] = [str(v) for v in value]
        else:
            data[key] = "" if value is None else str(value)
    return data


def form_data(form: forms.BaseForm) -> dict[str, Any]:
    """The data a browser would send for ``form`` as rendered (disabled fields left out)."""
    return _form_fields(form)


def changeform_data(response) -> dict[str, Any]:
    """The form data of an admin add/change page, inlines, management forms and the rule
    matrix (``cc_admin.rule_matrix``) included."""
    context = response.context
    data = _form_fields(context["adminform"].form)
    matrix = getattr(context["adminform"].form, "matrix", None)
    if matrix is not None:
        data.update(_form_fields(matrix))
    for inline in context.get("inline_admin_formsets", []):
        formset = inline.formset
        data.update(_form_fields(formset.management_form))
        for form in formset.forms:
            data.update(_form_fields(form))
    return data


def add_inline_row(data: dict[str, Any], prefix: str, row: dict[str, Any]) -> dict[str, Any]:
    """Append one new row to an inline formset in ``data`` (as "Add another" would)."""
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for name, value in row.items():
        data[f"{prefix}-{index}-{name}"] = value
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    return data
