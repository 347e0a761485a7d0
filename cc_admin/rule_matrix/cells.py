"""The cells of the rule matrix: each one shows a few form fields and owns a few rule rows.

A cell reads its value from the rows at the page's scope (``read``; ``INHERIT`` when it has
none), turns the submitted fields back into a value (``parse``) and says which rows that value
means (``rows``: a value per ``(key, channel)``, or ``INHERIT_ROW`` for "no row here"). The form
compares the submitted value with the one read, so a cell nobody touched writes nothing, even
when its rows are not in the canonical shape (a row written through the raw rule admin).

Values are plain and comparable: a token, a tuple ``(mode, number)`` or a frozenset.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from cc_rules.choices import ChannelCode
from cc_rules.engine.rulebook import CHANNEL_END_EVENTS, RULES

if TYPE_CHECKING:
    from .form import RuleMatrixForm
    from .scope import ScopeRules

INHERIT = "inherit"  # the choice every cell offers: no row at this scope


class _InheritRow:
    def __repr__(self) -> str:
        return "INHERIT_ROW"


INHERIT_ROW = _InheritRow()  # in ``rows``: delete the row at this scope, if there is one

CHANNEL_WORDS = dict(ChannelCode.choices)
SHORT_CHANNEL_WORDS = {
    "voice": "Voice",
    "email": "E-mail",
    "chat": "Chat",
    "facebook": "Facebook",
    "twitter": "Twitter",
    "workitem": "Workitem",
    "im": "IM",
    "cobrowse": "Co-browse",
}
END_EVENT_WORDS = {
    "hangup": "hang-up",
    "chat_ended": "chat ended",
    "sent": "sent",
    "workbin": "workbin",
}
NUMBER_TYPE_WORDS = {
    "fixed_line": "fixed line",
    "mobile": "mobile",
    "fixed_line_or_mobile": "fixed line or mobile",
    "toll_free": "toll free",
    "premium_rate": "premium rate",
    "shared_cost": "shared cost",
    "voip": "VoIP",
    "personal_number": "personal number",
    "pager": "pager",
    "uan": "UAN (company number)",
    "voicemail": "voicemail",
    "unknown": "unknown type",
}
YES_NO = [("yes", True, "yes"), ("no", False, "no")]
AFTER_TIMER = [("ready", "ready", "Ready"), ("not_ready", "not_ready", "Not ready")]
AFTER_DONE_WORDS = {
    "ready": "Ready",
    "not_ready": "Not ready",
    "keep_acw": "keep ACW",
    "manual": "manual",
}
ACW_MODES = [
    ("off", "off"),
    ("timed", "timed"),
    ("until_done", "until done"),
    ("manual", "manual"),
]
ACW_WORDS = dict(ACW_MODES)


def _select(label: str, choices: list[tuple[str, str]], **attrs: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=choices,
        initial=INHERIT,
        widget=forms.Select(attrs={"aria-label": label, "class": "cc-m-select", **attrs}),
    )


def _number(label: str, mode_name: str, mode_value: str) -> forms.IntegerField:
    # The rulebook checks the range (and words the message); the field only reads a number.
    return forms.IntegerField(
        required=False,
        widget=forms.NumberInput(
            attrs={
                "aria-label": label,
                "class": "cc-m-number",
                "data-cc-mode": mode_name,
                "data-cc-mode-value": mode_value,
            }
        ),
    )


def _checkbox(label: str, **attrs: str) -> forms.BooleanField:
    return forms.BooleanField(
        required=False, widget=forms.CheckboxInput(attrs={"aria-label": label, **attrs})
    )


def _hint(text: str) -> SafeString:
    return format_html('<small class="cc-m-hint">{}</small>', text) if text else mark_safe("")


class Cell:
    """One cell: ``name`` is the stem of its field names; ``label`` names it in words."""

    name: str
    label: str
    rnum: str = ""
    channel: str | None = None

    def field_names(self) -> list[str]:
        return [self.name]

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        raise NotImplementedError

    def read(self, rules: ScopeRules) -> Any:
        raise NotImplementedError

    def initial(self, value: Any, rules: ScopeRules) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        """The submitted value, or None after adding an error to ``form``."""
        raise NotImplementedError

    def rows(self, value: Any, rules: ScopeRules) -> dict[tuple[str, str | None], Any]:
        return {}

    def words(self, value: Any, rules: ScopeRules) -> str:
        raise NotImplementedError

    def hint(self, rules: ScopeRules) -> str:
        return ""

    def errors(self, form: RuleMatrixForm) -> SafeString:
        found = [e for name in self.field_names() for e in form.errors.get(name, [])]
        if not found:
            return mark_safe("")
        return format_html(
            '<ul class="errorlist" id="{}-errors">{}</ul>',
            form.add_prefix(self.name),
            format_html_join("", "<li>{}</li>", ((e,) for e in found)),
        )

    def render(self, form: RuleMatrixForm) -> SafeString:
        fields = format_html_join("", "{}", ((form[n],) for n in self.field_names()))
        return format_html(
            '<div class="cc-m-cell{}">{}{}{}</div>',
            " cc-m-invalid" if self.has_errors(form) else "",
            fields,
            _hint(self.hint(form.rules)),
            self.errors(form),
        )

    def has_errors(self, form: RuleMatrixForm) -> bool:
        return any(name in form.errors for name in self.field_names())


class ChoiceCell(Cell):
    """A rule with a few values (yes/no, Ready/Not ready): inherit or one of them."""

    def __init__(
        self,
        key: str,
        channel: str | None,
        label: str,
        options: list[tuple[str, Any, str]],
    ) -> None:
        self.key, self.channel, self.label = key, channel, label
        self.name = f"{key}-{channel}" if channel else key
        self.options = options
        self.rnum = RULES[key].rule

    def _token(self, value: Any) -> str:
        return next((t for t, v, _ in self.options if v == value), INHERIT)

    def _word(self, value: Any) -> str:
        return next((w for _, v, w in self.options if v == value), str(value))

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        choices = [(INHERIT, "inherit")] + [(t, w) for t, _, w in self.options]
        return {self.name: _select(self.label, choices)}

    def read(self, rules: ScopeRules) -> str:
        if not rules.has_own(self.key, self.channel):
            return INHERIT
        return self._token(rules.own_value(self.key, self.channel))

    def initial(self, value: str, rules: ScopeRules) -> dict[str, Any]:
        return {self.name: value}

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: str) -> str | None:
        return data.get(self.name)

    def rows(self, value: str, rules: ScopeRules) -> dict[tuple[str, str | None], Any]:
        if value == INHERIT:
            return {(self.key, self.channel): INHERIT_ROW}
        chosen = next(v for t, v, _ in self.options if t == value)
        return {(self.key, self.channel): chosen}

    def words(self, value: str, rules: ScopeRules) -> str:
        if value == INHERIT:
            return "inherit"
        return next(w for t, _, w in self.options if t == value)

    def hint(self, rules: ScopeRules) -> str:
        value, source = rules.parent(self.key, self.channel)
        return rules.hint(self._word(value), [source])


class NumberCell(Cell):
    """A number or null (unlimited / never): inherit, the null word, or a number."""

    def __init__(
        self,
        key: str,
        channel: str | None,
        label: str,
        *,
        null_word: str,
        number_word: str,
        unit: str = "",
    ) -> None:
        self.key, self.channel, self.label = key, channel, label
        self.name = f"{key}-{channel}" if channel else key
        self.null_word, self.number_word, self.unit = null_word, number_word, unit
        self.rnum = RULES[key].rule

    @property
    def number_name(self) -> str:
        return f"{self.name}-n"

    def field_names(self) -> list[str]:
        return [self.name, self.number_name]

    def _word(self, value: int | None) -> str:
        return self.null_word if value is None else f"{value}{self.unit}"

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        choices = [(INHERIT, "inherit"), ("none", self.null_word), ("n", self.number_word)]
        return {
            self.name: _select(f"{self.label}: choice", choices),
            self.number_name: _number(
                f"{self.label}: number{' of seconds' if self.unit else ''}",
                self.name,
                "n",
            ),
        }

    def read(self, rules: ScopeRules) -> tuple[str, int | None]:
        if not rules.has_own(self.key, self.channel):
            return (INHERIT, None)
        value = rules.own_value(self.key, self.channel)
        return ("none", None) if value is None else ("n", value)

    def initial(self, value: tuple[str, int | None], rules: ScopeRules) -> dict[str, Any]:
        return {self.name: value[0], self.number_name: value[1]}

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        return parse_mode_and_number(
            form, data, self.name, self.number_name, "n", current, self.number_word
        )

    def rows(self, value: tuple[str, int | None], rules: ScopeRules) -> dict:
        mode, number = value
        if mode == INHERIT:
            return {(self.key, self.channel): INHERIT_ROW}
        return {(self.key, self.channel): number if mode == "n" else None}

    def words(self, value: tuple[str, int | None], rules: ScopeRules) -> str:
        mode, number = value
        return "inherit" if mode == INHERIT else self._word(number if mode == "n" else None)

    def hint(self, rules: ScopeRules) -> str:
        value, source = rules.parent(self.key, self.channel)
        return rules.hint(self._word(value), [source])


def parse_mode_and_number(
    form: RuleMatrixForm,
    data: dict[str, Any],
    mode_name: str,
    number_name: str,
    number_mode: str,
    current: tuple[str, int | None],
    number_word: str,
) -> tuple[str, int | None] | None:
    """A select plus the number it may need: the number counts only in ``number_mode``.

    A number typed while the select says something else is refused rather than dropped (the
    page's script switches the select as one types; without it the admin must choose).
    """
    if number_name in form.errors or mode_name not in data:
        return None  # the field already says what is wrong
    mode, number = data[mode_name], data.get(number_name)
    if mode == number_mode:
        if number is None:
            form.add_error(number_name, f"Enter the number for “{number_word}”.")
            return None
        return (mode, number)
    if number is not None and number != current[1]:
        form.add_error(number_name, f"Choose “{number_word}” to use this number, or clear it.")
        return None
    return (mode, None)


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
            self.name: _select(self.label, [(INHERIT, "inherit"), *ACW_MODES]),
            self.seconds_name: _number(
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
            self.name: _select(self.label, [(INHERIT, "inherit"), *AFTER_DONE_WORDS.items()]),
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


class SetCell(Cell):
    """A set replaced whole by a more specific scope: inherit, or exactly the ticked boxes.

    While the select says inherit, the boxes show the inherited set.
    """

    set_word = "as ticked"

    def __init__(
        self,
        key: str,
        label: str,
        options: Iterable[tuple[str, Any, str]],
        rnum: str | None = None,
    ) -> None:
        self.key, self.label, self.name = key, label, key
        self.options = list(options)
        self.rnum = rnum or RULES[key].rule

    def box_name(self, token: str) -> str:
        return f"{self.key}-{token}"

    def field_names(self) -> list[str]:
        return [self.name, *(self.box_name(t) for t, _, _ in self.options)]

    def mode_field(self) -> forms.ChoiceField:
        return _select(
            f"{self.label}: inherit or as ticked",
            [(INHERIT, "inherit"), ("set", self.set_word)],
        )

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        fields: dict[str, forms.Field] = {self.name: self.mode_field()}
        for token, _, word in self.options:
            fields[self.box_name(token)] = _checkbox(
                word, **{"class": "cc-m-box", "data-cc-mode": self.name}
            )
        return fields

    def read(self, rules: ScopeRules) -> Any:
        if not rules.has_own(self.key):
            return INHERIT
        return frozenset(rules.own_value(self.key))

    def shown(self, value: Any, rules: ScopeRules) -> frozenset:
        return rules.parent(self.key)[0] if value == INHERIT else value

    def initial(self, value: Any, rules: ScopeRules) -> dict[str, Any]:
        ticked = self.shown(value, rules)
        found: dict[str, Any] = {self.name: INHERIT if value == INHERIT else "set"}
        for token, item, _ in self.options:
            found[self.box_name(token)] = item in ticked
        return found

    def ticked(self, data: dict[str, Any], current: Any, rules: ScopeRules) -> frozenset:
        return frozenset(item for token, item, _ in self.options if data.get(self.box_name(token)))

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        if self.name not in data:
            return None
        ticked = self.ticked(data, current, form.rules)
        if data[self.name] == INHERIT:
            # the boxes as the page showed them, or as the script shows inherit: both fine
            if ticked not in (self.shown(current, form.rules), self.shown(INHERIT, form.rules)):
                form.add_error(
                    self.name,
                    f"Choose “{self.set_word}” to use the boxes you changed, or undo them.",
                )
                return None
            return INHERIT
        return ticked

    def rows(self, value: Any, rules: ScopeRules) -> dict:
        if value == INHERIT:
            return {(self.key, None): INHERIT_ROW}
        return {(self.key, None): RULES[self.key].encode(frozenset(value))}

    def _list(self, items: Iterable[Any]) -> str:
        words = {item: word for _, item, word in self.options}
        shown = [words.get(i, str(i)) for _, i, _ in self.options if i in set(items)]
        return ", ".join(shown) if shown else "none"

    def words(self, value: Any, rules: ScopeRules) -> str:
        return "inherit" if value == INHERIT else self._list(value)

    def hint(self, rules: ScopeRules) -> str:
        value, source = rules.parent(self.key)
        return rules.hint(self._list(value), [source])

    def render_box(self, form: RuleMatrixForm, token: str) -> SafeString:
        return format_html("{}", form[self.box_name(token)])

    def render_boxes(self, form: RuleMatrixForm) -> SafeString:
        return format_html(
            '<div class="cc-m-boxes">{}</div>',
            format_html_join(
                "",
                '<label class="cc-m-check">{} {}</label>',
                ((form[self.box_name(t)], word) for t, _, word in self.options),
            ),
        )

    def render(self, form: RuleMatrixForm) -> SafeString:
        return format_html(
            '<div class="cc-m-cell{}">{}{}{}{}</div>',
            " cc-m-invalid" if self.has_errors(form) else "",
            form[self.name],
            _hint(self.hint(form.rules)),
            self.render_boxes(form),
            self.errors(form),
        )


class PairsCell(SetCell):
    """R9 blocking pairs as a grid: row "while on X", column "no new Y"."""

    def __init__(self, channels: list[str]) -> None:
        options = [
            (f"{a}-{b}", (a, b), f"while on {CHANNEL_WORDS[a]}, no new {CHANNEL_WORDS[b]}")
            for a in channels
            for b in channels
            if a != b
        ]
        super().__init__("blocking_pairs", "Blocking pairs", options)
        self.channels = channels

    def render_boxes(self, form: RuleMatrixForm) -> SafeString:
        head = format_html_join(
            "", '<th scope="col">{}</th>', ((SHORT_CHANNEL_WORDS[b],) for b in self.channels)
        )
        rows = []
        for a in self.channels:
            cells = format_html_join(
                "",
                "<td>{}</td>",
                ((form[self.box_name(f"{a}-{b}")] if a != b else "-",) for b in self.channels),
            )
            rows.append(
                format_html('<tr><th scope="row">{}</th>{}</tr>', SHORT_CHANNEL_WORDS[a], cells)
            )
        return format_html(
            '<table class="cc-m-grid"><caption>While on the channel of the row, no new work '
            "on the channel of the column</caption><thead><tr>"
            '<th scope="col"><span class="cc-m-corner">on ↓ · no new →</span></th>{}</tr>'
            "</thead><tbody>{}</tbody></table>",
            head,
            format_html_join("", "{}", ((r,) for r in rows)),
        )

    def _list(self, items: Iterable[Any]) -> str:
        pairs = set(items)
        shown = [
            f"{SHORT_CHANNEL_WORDS[a]} → {SHORT_CHANNEL_WORDS[b]}"
            for a in self.channels
            for b in self.channels
            if (a, b) in pairs
        ]
        return ", ".join(shown) if shown else "none"


class ReleaseCell(SetCell):
    """R8 release events, one role-wide set shown per channel as the end events it produces.

    An event appears in every row of a channel that produces it (chat ended: chat, Facebook,
    Twitter, co-browse). The page's script keeps those boxes in step; without it, a box the
    admin changed wins over the copies left as they were.
    """

    def __init__(self, channels: list[str]) -> None:
        super().__init__(
            "pending_release_on",
            "Release events",
            [(e, e, w) for e, w in END_EVENT_WORDS.items()],
        )
        self.channels = [c for c in channels if CHANNEL_END_EVENTS[c]]

    def box_name(self, token: str) -> str:  # token: "channel:event"
        return f"{self.key}-{token.replace(':', '-')}"

    def boxes(self) -> list[tuple[str, str]]:
        return [
            (channel, event)
            for channel in self.channels
            for event in END_EVENT_WORDS
            if event in CHANNEL_END_EVENTS[channel]
        ]

    def field_names(self) -> list[str]:
        return [self.name, *(self.box_name(f"{c}:{e}") for c, e in self.boxes())]

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        fields: dict[str, forms.Field] = {self.name: self.mode_field()}
        for channel, event in self.boxes():
            fields[self.box_name(f"{channel}:{event}")] = _checkbox(
                f"{CHANNEL_WORDS[channel]}: {END_EVENT_WORDS[event]} releases a pending status",
                **{"class": "cc-m-box", "data-cc-mode": self.name, "data-cc-event": event},
            )
        return fields

    def initial(self, value: Any, rules: ScopeRules) -> dict[str, Any]:
        ticked = self.shown(value, rules)
        found: dict[str, Any] = {self.name: INHERIT if value == INHERIT else "set"}
        for channel, event in self.boxes():
            found[self.box_name(f"{channel}:{event}")] = event in ticked
        return found

    def ticked(self, data: dict[str, Any], current: Any, rules: ScopeRules) -> frozenset:
        before = self.shown(current, rules)
        result = set()
        for event in END_EVENT_WORDS:
            boxes = [
                bool(data.get(self.box_name(f"{c}:{e}"))) for c, e in self.boxes() if e == event
            ]
            was = event in before
            # every changed copy says "not was"; copies left alone say "was"
            if any(box != was for box in boxes) != was:
                result.add(event)
        return frozenset(result)

    def render_boxes(self, form: RuleMatrixForm) -> SafeString:
        return format_html(
            '<p class="cc-m-note">{}</p>', "Tick the events in the table's “Releases” column."
        )

    def render_channel(self, form: RuleMatrixForm, channel: str) -> SafeString:
        items = [
            format_html(
                '<label class="cc-m-check">{} {}</label>',
                form[self.box_name(f"{c}:{e}")],
                END_EVENT_WORDS[e],
            )
            for c, e in self.boxes()
            if c == channel
        ]
        if not items:
            return format_html('<span class="cc-m-none">{}</span>', "no end event")
        return format_html_join("", "{}", ((i,) for i in items))


class VisibleCell(SetCell):
    """R1 on a role: inherit the channels visible by default, or exactly the ticked ones.

    Not a rule row: it writes ``Role.visible_channels`` (an empty set *is* inherit).
    """

    set_word = "only the ticked channels"

    def __init__(self, channels: list[str]) -> None:
        options = [(c, c, CHANNEL_WORDS[c]) for c in channels]
        super().__init__("visible", "Visible channels", options, rnum="R1")

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        fields = super().build(rules)
        for token, _, word in self.options:
            fields[self.box_name(token)].widget.attrs["aria-label"] = f"{word}: visible"
        return fields

    def read(self, rules: ScopeRules) -> Any:
        return rules.role_visible or INHERIT

    def shown(self, value: Any, rules: ScopeRules) -> frozenset:
        return rules.default_visible if value == INHERIT else value

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        value = super().parse(form, data, current)
        if value is not None and value != INHERIT and not value:
            form.add_error(
                self.name,
                "Tick at least one channel, or choose inherit (a role with no channels chosen "
                "sees the channels visible by default).",
            )
            return None
        return value

    def rows(self, value: Any, rules: ScopeRules) -> dict:
        return {}

    def render_boxes(self, form: RuleMatrixForm) -> SafeString:
        return format_html(
            '<p class="cc-m-note">{}</p>', "Tick the channels in the table's “Sees” column."
        )

    def hint(self, rules: ScopeRules) -> str:
        return rules.hint(self._list(rules.default_visible), ["global"])

    def apply(self, value: Any, rules: ScopeRules) -> None:
        role = rules.target.role
        assert role is not None
        role.visible_channels.set([] if value == INHERIT else sorted(value))


class DefaultVisibleCell(VisibleCell):
    """R1 globally: the channels a role that chooses none sees (``Channel.visible_by_default``)."""

    def build(self, rules: ScopeRules) -> dict[str, forms.Field]:
        fields = super().build(rules)
        del fields[self.name]
        return fields

    def field_names(self) -> list[str]:
        return [self.box_name(t) for t, _, _ in self.options]

    def read(self, rules: ScopeRules) -> Any:
        return rules.default_visible

    def initial(self, value: Any, rules: ScopeRules) -> dict[str, Any]:
        return {self.box_name(t): item in value for t, item, _ in self.options}

    def parse(self, form: RuleMatrixForm, data: dict[str, Any], current: Any) -> Any:
        return self.ticked(data, current, form.rules)

    def words(self, value: Any, rules: ScopeRules) -> str:
        return self._list(value)

    def hint(self, rules: ScopeRules) -> str:
        return ""

    def apply(self, value: Any, rules: ScopeRules) -> None:
        from cc_rules.models import Channel

        for channel in Channel.objects.all():
            wanted = channel.code in value
            if channel.visible_by_default != wanted:
                channel.visible_by_default = wanted
                channel.save(update_fields=["visible_by_default"])
