"""``RuleMatrixForm``: the matrix of one scope, validated and saved as rule rows.

Validation runs every changed row through ``Rule.full_clean`` (the rulebook's parser, the
reason-code checks, the constraints) and puts each message next to the cell that asked for the
row. Saving deletes and writes only the rows whose value changes, through the model, so
django-simple-history records each change and ``cc_rules.signals`` bumps the rules version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import format_html
from django.utils.safestring import SafeString

from cc_rules.choices import Scope
from cc_rules.engine.rulebook import NUMBER_TYPES
from cc_rules.models import Rule

from .cells import (
    AFTER_DONE_WORDS,
    AFTER_TIMER,
    CHANNEL_WORDS,
    INHERIT,
    INHERIT_ROW,
    NUMBER_TYPE_WORDS,
    YES_NO,
    AcwCell,
    AfterDoneCell,
    Cell,
    ChoiceCell,
    DefaultVisibleCell,
    NumberCell,
    PairsCell,
    ReleaseCell,
    SetCell,
    VisibleCell,
)
from .scope import ScopeRules, Target

# Rows of the table: the phone first, then written work, then conversations, IM last.
CHANNEL_ORDER = ["voice", "email", "workitem", "chat", "facebook", "twitter", "cobrowse", "im"]

STALE = (
    "Someone else changed these rules after this page was loaded, so nothing was saved. The "
    "grey hints and the history show the saved values now; check the table and save again to "
    "apply your changes over theirs."
)


@dataclass(frozen=True)
class Column:
    """A column of the channel table: a short header, its R-number, and the legend's words."""

    id: str
    header: str
    rnum: str
    legend: str


COLUMNS = [
    Column("visible", "Sees", "R1", "the role sees the channel (agents can log in and get work)"),
    Column("cap", "Cap", "R9", "most open interactions at once on the channel"),
    Column(
        "acw",
        "Wrap-up",
        "R14",
        "after-call work when the channel's last open interaction ends: off; timed (ends after "
        "the seconds given); until done (ends when the agent marks the work done, to the status "
        "after done); manual (the agent sets the status by hand)",
    ),
    Column("after_timer", "After timer", "R14", "status when the wrap-up timer ends"),
    Column(
        "after_done",
        "After done",
        "R13",
        "status when the agent marks the work done during wrap-up: Ready; Not ready with a "
        "reason; keep ACW (done does not end wrap-up, the timer still does); manual (done "
        "cancels the timer and the agent sets the status)",
    ),
    Column("extendable", "Extend", "R15", "the agent may extend wrap-up indefinitely"),
    Column("mark_done", "Done req.", "R12", "work must be marked done before it can be closed"),
    Column(
        "release",
        "Releases",
        "R8",
        "end events that release a pending status (one set for the whole role: chat ended is "
        "the same event on chat, Facebook, Twitter and co-browse)",
    ),
]


def build_cells(target: Target) -> tuple[dict[str, dict[str, Cell]], list[Cell]]:
    """The cells of a scope's page: per channel by column, and the scope-wide settings."""
    per_channel: dict[str, dict[str, Cell]] = {}
    for ch in CHANNEL_ORDER:
        word = CHANNEL_WORDS[ch]
        cells: dict[str, Cell] = {
            "cap": NumberCell(
                "channel_cap", ch, f"{word}: cap", null_word="unlimited", number_word="at most"
            ),
            "acw": AcwCell(ch),
            "after_timer": ChoiceCell(
                "acw_after_timer", ch, f"{word}: status after the timer", AFTER_TIMER
            ),
            "after_done": AfterDoneCell(ch),
            "extendable": ChoiceCell(
                "acw_extendable", ch, f"{word}: wrap-up may be extended", YES_NO
            ),
            "mark_done": ChoiceCell(
                "mark_done_required", ch, f"{word}: mark done required", YES_NO
            ),
        }
        keys = {
            "cap": ["channel_cap"],
            "acw": ["acw_enabled", "acw_seconds"],
            "after_timer": ["acw_after_timer"],
            "after_done": ["after_done", "after_done_reason"],
            "extendable": ["acw_extendable"],
            "mark_done": ["mark_done_required"],
        }
        per_channel[ch] = {
            column: cell
            for column, cell in cells.items()
            if all(target.offers(key) for key in keys[column])
        }

    settings: list[Cell] = []
    if target.scope == Scope.ROLE:
        settings.append(VisibleCell(CHANNEL_ORDER))
    elif target.scope == Scope.GLOBAL:
        settings.append(DefaultVisibleCell(CHANNEL_ORDER))
    wanted: list[tuple[str, Cell]] = [
        (
            "pending_enabled",
            ChoiceCell(
                "pending_enabled",
                None,
                "Hold a status asked for during open work until the work ends (pending status)",
                YES_NO,
            ),
        ),
        ("pending_release_on", ReleaseCell(CHANNEL_ORDER)),
        (
            "total_cap",
            NumberCell(
                "total_cap",
                None,
                "Most open interactions over all channels (IM never counts)",
                null_word="unlimited",
                number_word="at most",
            ),
        ),
        ("blocking_pairs", PairsCell(CHANNEL_ORDER)),
        (
            "reason_required",
            ChoiceCell("reason_required", None, "Not ready needs a reason code", YES_NO),
        ),
        (
            "offer_timeout_seconds",
            NumberCell(
                "offer_timeout_seconds",
                None,
                "An offer nobody accepts is missed after",
                null_word="never",
                number_word="seconds",
                unit=" s",
            ),
        ),
        (
            "missed_offer_not_ready",
            ChoiceCell(
                "missed_offer_not_ready",
                None,
                "A missed offer sets the channel Not ready (reason missed_offer)",
                YES_NO,
            ),
        ),
        (
            "click_to_contact",
            ChoiceCell(
                "click_to_contact",
                None,
                "Click-to-contact on numbers and addresses in chat messages",
                YES_NO,
            ),
        ),
        (
            "dialable_number_types",
            SetCell(
                "dialable_number_types",
                "Phone number types click-to-contact may dial",
                [(t, t, NUMBER_TYPE_WORDS[t]) for t in NUMBER_TYPES],
            ),
        ),
        (
            "consult_takes_slot",
            ChoiceCell(
                "consult_takes_slot",
                None,
                "A consultation or conference takes a slot of the teammate's cap",
                YES_NO,
            ),
        ),
        (
            "acw_after_assist",
            ChoiceCell(
                "acw_after_assist",
                None,
                "After-call work for the teammate after a consultation or conference",
                YES_NO,
            ),
        ),
    ]
    settings += [cell for key, cell in wanted if target.offers(key)]
    return per_channel, settings


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
        """ "until done" needs a status after done to go to; "manual" is after done = manual."""
        for ch, cells in self.per_channel.items():
            acw, after_done = cells.get("acw"), cells.get("after_done")
            if acw is None or after_done is None or not {acw, after_done} & set(changed):
                continue
            mode, status = values[acw.name], values[after_done.name]
            if mode is None or status is None:
                continue
            inherited = self.rules.parent("after_done", ch)[0]
            landing = inherited if status[0] == INHERIT else status[0]
            if mode[0] == "until_done" and landing not in ("ready", "not_ready"):
                self.add_error(
                    acw.name,
                    "“Until done” ends wrap-up when the work is marked done, so “After done” must "
                    f"be Ready or Not ready (it is {AFTER_DONE_WORDS[landing]}). Set it, or "
                    "choose “manual”.",
                )
            if mode[0] == "manual" and status[0] not in (INHERIT, "manual"):
                self.add_error(
                    after_done.name,
                    "With wrap-up “manual” the agent sets the status, so “After done” is manual. "
                    "Choose “until done” for an automatic status after done.",
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
        return [c for c in COLUMNS if c.id in offered or c.id in ("visible", "release")]

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
