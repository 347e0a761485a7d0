"""``RuleMatrixForm``: the matrix of one scope, validated and saved as rule rows.

Validation runs every changed row through ``Rule.full_clean`` (the rulebook's parser, the
reason-code checks, the constraints) and puts each message next to the cell that asked for the
row. Saving deletes and writes only the rows whose value changes, through the model, so
django-simple-history records each change and ``cc_rules.signals`` bumps the rules version.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import format_html
from django.utils.safestring import SafeString

from cc_admin.live import CHANNEL_WORDS
from cc_rules.choices import Scope
from cc_rules.models import Rule, RulesVersion

from .cells import AFTER_DONE_WORDS, INHERIT, INHERIT_ROW, Cell
from .layout import CHANNEL_ORDER, COLUMNS, Column, build_cells
from .scope import ScopeRules, Target
from .sets import DefaultVisibleCell, ReleaseCell, SetCell, VisibleCell

SEES_LEGEND = {
    Scope.GLOBAL: "visible by default: roles that choose no channels of their own see it",
    Scope.AGENT: "the agent's role sees the channel (set on the role's page)",
}
STALE = (
    "Someone else changed these rules after you opened this page, so nothing was saved (their "
    "change is in the history). Save again to apply the table as shown here over theirs, or "
    "reload the page to start from the saved rules."
)


def lock_rule_edits() -> None:
    """Serialise rule edits: lock the rules-version row before reading what a page will write.

    A second admin saving the same scope meanwhile then waits, reads the first one's rows and
    gets the "changed meanwhile" message instead of a duplicate-row error. Only edits wait: the
    hot path reads the version without locking, and every rule write updates this row anyway
    (``cc_rules.signals``). Taken inside the page's transaction (the admin's change view is
    atomic, the global page opens one); outside a transaction there is nothing to hold it.
    """
    if transaction.get_connection().in_atomic_block:
        RulesVersion.objects.select_for_update().filter(pk=1).values_list("pk").first()


class RuleMatrixForm(forms.Form):
    """The rules of one scope as a table of channels by concepts plus scope-wide settings.

    ``editable=False`` (read-only users) shows every input disabled; a bound read-only form
    changes nothing. After ``is_valid()``, ``save()`` writes the planned rows in one
    transaction and returns the changes in words (``change_words``).
    """

    prefix = "rm"

    def __init__(
        self, target: Target, data: Any = None, *, editable: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(data, prefix=self.prefix, **kwargs)
        self.target = target
        self.editable = editable
        if self.is_bound and editable:
            lock_rule_edits()
        self.rules = ScopeRules(target)
        self.per_channel, self.settings = build_cells(target)
        self.cells: list[Cell] = [
            *(cell for cells in self.per_channel.values() for cell in cells.values()),
            *self.settings,
        ]
        self.current: dict[str, Any] = {}
        initial: dict[str, Any] = {"loaded": self.rules.digest()}
        for cell in self.cells:
            self.fields.update(cell.build(self.rules))
            self.current[cell.name] = cell.read(self.rules)
            initial.update(cell.initial(self.current[cell.name], self.rules))
        self._mark_inherited_boxes()
        self.fields["loaded"] = forms.CharField(required=False, widget=forms.HiddenInput)
        self.initial = initial
        if not editable:
            for field in self.fields.values():
                field.disabled = True
        self.deletes: list[Rule] = []
        self.writes: list[Rule] = []
        self.applies: list[tuple[Cell, Any]] = []
        self.change_words: list[str] = []

    def _mark_inherited_boxes(self) -> None:
        """Tell the page's script which boxes "inherit" ticks (it restores them)."""
        for cell in self.cells:
            if not isinstance(cell, SetCell) or isinstance(cell, DefaultVisibleCell):
                continue
            shown = cell.initial(INHERIT, self.rules)
            for name in cell.field_names()[1:]:
                self.fields[name].widget.attrs["data-cc-inherited"] = "1" if shown[name] else "0"

    # -- validation ---------------------------------------------------------------------------
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        values = {cell.name: cell.parse(self, data, self.current[cell.name]) for cell in self.cells}
        changed = [
            cell
            for cell in self.cells
            if values[cell.name] is not None and values[cell.name] != self.current[cell.name]
        ]
        if changed and data.get("loaded") != self.rules.digest():
            self.add_error(None, STALE)
            fresh = self.data.copy()
            fresh[self.add_prefix("loaded")] = self.rules.digest()
            self.data = fresh  # saving again applies the admin's table over the new rows
            return data
        self._check_wrap_up(values, changed)
        self._plan(values, changed)
        return data

    def _check_wrap_up(self, values: dict[str, Any], changed: list[Cell]) -> None:
        """Until done needs a status after done to land in; manual means after done manual.

        Checked where either cell of the channel changed; the message goes to the changed cell
        (the wrap-up cell when both did).
        """
        for ch, cells in self.per_channel.items():
            acw, after_done = cells.get("acw"), cells.get("after_done")
            if acw is None or after_done is None or not {acw, after_done} & set(changed):
                continue
            mode, status = values[acw.name], values[after_done.name]
            if mode is None or status is None:
                continue
            where = acw.name if acw in changed else after_done.name
            inherited = self.rules.parent("after_done", ch)[0]
            landing = inherited if status[0] == INHERIT else status[0]
            if mode[0] == "until_done" and landing not in ("ready", "not_ready"):
                self.add_error(
                    where,
                    f"“Until done” needs “After done” Ready or Not ready (now: "
                    f"{AFTER_DONE_WORDS[landing]}). Set it, or choose wrap-up “manual”.",
                )
            if mode[0] == "manual" and status[0] not in (INHERIT, "manual"):
                self.add_error(
                    where,
                    f"Wrap-up “manual” needs “After done” manual (now: "
                    f"{AFTER_DONE_WORDS[status[0]]}): the agent sets the status. Set it, or "
                    "choose wrap-up “until done”.",
                )

    def _plan(self, values: dict[str, Any], changed: list[Cell]) -> None:
        planned: dict[tuple[str, str | None], tuple[Any, Cell]] = {}
        for cell in changed:
            for where, value in cell.rows(values[cell.name], self.rules).items():
                prior = planned.get(where)
                if prior is None or prior[0] is INHERIT_ROW:
                    planned[where] = (value, cell)
        for ch, cells in self.per_channel.items():
            acw, after_done = cells.get("acw"), cells.get("after_done")
            if acw is None or after_done is None or after_done not in changed:
                continue
            if (values[acw.name] or ("",))[0] == "manual" and values[after_done.name][0] == INHERIT:
                # wrap-up "manual" stands for after done = manual at this scope (docstring)
                planned[("after_done", ch)] = ("manual", acw)
        touched: set[Cell] = set()
        for (key, channel), (value, cell) in planned.items():
            own = self.rules.own.get((key, channel))
            if value is INHERIT_ROW:
                if own is not None:
                    self.deletes.append(own)
                    touched.add(cell)
                continue
            rule = own or Rule(key=key, channel_id=channel, **self.target.rule_target)
            before = rule.value
            rule.value = value
            try:
                rule.full_clean()
            except ValidationError as exc:
                for messages in exc.message_dict.values():
                    for message in messages:
                        self.add_error(cell.name, message)
                continue
            if own is not None and rule.value == before:
                continue
            self.writes.append(rule)
            touched.add(cell)
        for cell in changed:
            if hasattr(cell, "apply"):
                self.applies.append((cell, values[cell.name]))
                touched.add(cell)
        self.change_words = [
            f"{cell.label} ({cell.words(self.current[cell.name], self.rules)} → "
            f"{cell.words(values[cell.name], self.rules)})"
            for cell in self.cells
            if cell in touched
        ]

    # -- saving -------------------------------------------------------------------------------
    def save(self) -> list[str]:
        """Write the planned rows (and visibility) in one transaction; the changes in words."""
        if not self.is_valid() or not self.editable:
            raise ValueError("Only a valid, editable matrix can be saved.")
        with transaction.atomic():
            for rule in self.deletes:
                rule.delete()
            for rule in self.writes:
                rule.save()
            for cell, value in self.applies:
                cell.apply(value, self.rules)  # type: ignore[attr-defined]
        return self.change_words

    # -- layout for the template ----------------------------------------------------------------
    @property
    def columns(self) -> list[Column]:
        offered = {column for cells in self.per_channel.values() for column in cells}
        found = [c for c in COLUMNS if c.id in offered or c.id in ("visible", "release")]
        sees = SEES_LEGEND.get(self.target.scope)
        return [
            dataclasses.replace(c, legend=sees) if c.id == "visible" and sees else c for c in found
        ]

    @property
    def release(self) -> ReleaseCell | None:
        return next((c for c in self.settings if isinstance(c, ReleaseCell)), None)

    @property
    def visible_cell(self) -> VisibleCell | None:
        return next((c for c in self.settings if isinstance(c, VisibleCell)), None)

    def table_rows(self) -> list[dict[str, Any]]:
        visible = self.rules.visible
        rows = []
        for ch in CHANNEL_ORDER:
            cells: list[SafeString] = []
            for column in self.columns:
                cells.append(self._render_column(column.id, ch, visible))
            rows.append(
                {"code": ch, "label": CHANNEL_WORDS[ch], "visible": ch in visible, "cells": cells}
            )
        return rows

    def _render_column(self, column: str, ch: str, visible: frozenset[str]) -> SafeString:
        if column == "visible":
            cell = self.visible_cell
            if cell is not None:
                return cell.render_box(self, ch)
            return format_html("{}", "yes" if ch in visible else "no")
        if column == "release":
            release = self.release
            return release.render_channel(self, ch) if release else format_html("")
        found = self.per_channel[ch].get(column)
        return found.render(self) if found else format_html("")

    def settings_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "label": cell.label,
                "rnum": cell.rnum,
                "html": cell.render(self),
                "for": self[cell.name].id_for_label if cell.name in self.fields else "",
            }
            for cell in self.settings
            if not isinstance(cell, DefaultVisibleCell)
        ]

    @property
    def scope_word(self) -> str:
        return {Scope.GLOBAL: "everyone", Scope.ROLE: "the whole role"}.get(
            self.target.scope, "this agent"
        )
