"""The after-call work cells of a channel: the wrap-up mode (R14) and the status after done (R13).

The mapping of the wrap-up mode onto ``acw_enabled``, ``acw_seconds`` and ``after_done`` is in
the package docstring; the form checks the two cells of a channel together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from cc_admin.live import CHANNEL_WORDS

from .cells import (
    ACW_MODES,
    ACW_WORDS,
    AFTER_DONE_WORDS,
    INHERIT,
    INHERIT_ROW,
    Cell,
    RuleMatrixForm,
    number_field,
    parse_mode_and_number,
    select_field,
)

if TYPE_CHECKING:
    from .scope import ScopeRules


class AcwCell(Cell):
    """After-call work on one channel: inherit / off / timed N s / until done / manual.

    Owns ``acw_enabled`` and ``acw_seconds`` (and writes ``after_done`` = manual for "manual");
    the mapping is in the package docstring.
    """

    rnum = "R14"

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.name = f"acw-{channel}"
        self.label = f"{CHANNEL_WORDS[channel]}: after-call work"

    @property
    def seconds_name(self) -> str:
        return f"{self.name}-s"

    def field_names(self) -> list[str]:
        return [self.name, self.seconds_name]

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        return {
            self.name: select_field(self.label, [(INHERIT, "inherit"), *ACW_MODES]),
            self.seconds_name: number_field(
                f"{CHANNEL_WORDS[self.channel]}: wrap-up timer in seconds", self.name, "timed"
            ),
        }

    @staticmethod
    def mode_of(enabled: bool, seconds: int | None, after_done: str) -> tuple[str, int | None]:
        if not enabled:
            return ("off", None)
        if seconds is not None:
            return ("timed", seconds)
        if after_done in ("ready", "not_ready"):
            return ("until_done", None)
        return ("manual", None)

    def read(self, rules: ScopeRules) -> tuple[str, int | None]:
        ch = self.channel
        if not rules.has_own("acw_enabled", ch) and not rules.has_own("acw_seconds", ch):
            return (INHERIT, None)
        return self.mode_of(
            rules.at_scope("acw_enabled", ch),
            rules.at_scope("acw_seconds", ch),
            rules.at_scope("after_done", ch),
        )

    def initial(self, value: tuple[str, int | None], rules: ScopeRules) -> dict[str, Any]:
        return {self.name: value[0], self.seconds_name: value[1]}

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        return parse_mode_and_number(
            form, data, self.name, self.seconds_name, "timed", current, "timed"
        )

    def rows(self, value: tuple[str, int | None], rules: ScopeRules) -> dict:
        mode, seconds = value
        ch = self.channel
        if mode == INHERIT:
            return {("acw_enabled", ch): INHERIT_ROW, ("acw_seconds", ch): INHERIT_ROW}
        if mode == "off":
            return {("acw_enabled", ch): False, ("acw_seconds", ch): INHERIT_ROW}
        if mode == "timed":
            return {("acw_enabled", ch): True, ("acw_seconds", ch): seconds}
        found: dict[tuple[str, str | None], Any] = {
            ("acw_enabled", ch): True,
            ("acw_seconds", ch): None,
        }
        if mode == "manual":
            found[("after_done", ch)] = "manual"
        return found

    def words(self, value: tuple[str, int | None], rules: ScopeRules) -> str:
        mode, seconds = value
        if mode == "timed":
            return f"timed {seconds} s"
        return "inherit" if mode == INHERIT else ACW_WORDS[mode]

    def hint(self, rules: ScopeRules) -> str:
        ch = self.channel
        enabled, s1 = rules.parent("acw_enabled", ch)
        seconds, s2 = rules.parent("acw_seconds", ch)
        after_done, s3 = rules.parent("after_done", ch)
        mode = self.mode_of(enabled, seconds, after_done)
        sources = [s1] if not enabled else [s1, s2] if seconds is not None else [s1, s2, s3]
        return rules.hint(self.words(mode, rules), sources)


class AfterDoneCell(Cell):
    """Status after mark done (R13): inherit / Ready / Not ready + reason / keep ACW / manual.

    Owns ``after_done`` and ``after_done_reason``.
    """

    rnum = "R13"

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.name = f"after_done-{channel}"
        self.label = f"{CHANNEL_WORDS[channel]}: status after done"

    @property
    def reason_name(self) -> str:
        return f"{self.name}-reason"

    def field_names(self) -> list[str]:
        return [self.name, self.reason_name]

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        codes = [(code, code) for code, _ in rules.reason_codes]
        stored = rules.own.get(("after_done_reason", self.channel))
        if stored is not None and stored.value and stored.value not in dict(codes):
            codes.append((stored.value, f"{stored.value} (not a code here)"))
        return {
            self.name: select_field(self.label, [(INHERIT, "inherit"), *AFTER_DONE_WORDS.items()]),
            self.reason_name: forms.ChoiceField(
                required=False,
                choices=[("", "no reason"), *codes],
                widget=forms.Select(
                    attrs={
                        "aria-label": f"{CHANNEL_WORDS[self.channel]}: reason after done",
                        "class": "cc-m-select cc-m-reason",
                        "data-cc-mode": self.name,
                        "data-cc-mode-value": "not_ready",
                    }
                ),
            ),
        }

    def read(self, rules: ScopeRules) -> tuple[str, str | None]:
        ch = self.channel
        if not rules.has_own("after_done", ch) and not rules.has_own("after_done_reason", ch):
            return (INHERIT, None)
        status = rules.at_scope("after_done", ch)
        reason = rules.at_scope("after_done_reason", ch) if status == "not_ready" else None
        return (status, reason)

    def initial(self, value: tuple[str, str | None], rules: ScopeRules) -> dict[str, Any]:
        return {self.name: value[0], self.reason_name: value[1] or ""}

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        if self.name not in data or self.reason_name in form.errors:
            return None
        status, reason = data[self.name], data.get(self.reason_name) or None
        if status == "not_ready":
            return (status, reason)
        if reason is not None and reason != current[1]:
            form.add_error(
                self.reason_name, "Choose “Not ready” to use this reason, or pick “no reason”."
            )
            return None
        return (status, None)

    def rows(self, value: tuple[str, str | None], rules: ScopeRules) -> dict:
        status, reason = value
        ch = self.channel
        if status == INHERIT:
            return {("after_done", ch): INHERIT_ROW, ("after_done_reason", ch): INHERIT_ROW}
        if status != "not_ready":
            return {("after_done", ch): status, ("after_done_reason", ch): INHERIT_ROW}
        if reason is None and rules.parent("after_done_reason", ch)[0] is None:
            # "no reason" is what this scope inherits anyway: no null row to say it again
            return {("after_done", ch): status, ("after_done_reason", ch): INHERIT_ROW}
        return {("after_done", ch): status, ("after_done_reason", ch): reason}

    def words(self, value: tuple[str, str | None], rules: ScopeRules) -> str:
        status, reason = value
        if status == INHERIT:
            return "inherit"
        text = AFTER_DONE_WORDS[status]
        return f"{text} ({reason})" if reason else text

    def hint(self, rules: ScopeRules) -> str:
        status, source = rules.parent("after_done", self.channel)
        reason, r_source = rules.parent("after_done_reason", self.channel)
        if status != "not_ready":
            reason = None
        sources = [source, r_source] if reason else [source]
        return rules.hint(self.words((status, reason), rules), sources)
