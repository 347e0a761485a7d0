"""The cells of the rule matrix: each one shows a few form fields and owns a few rule rows.

A cell reads its value from the rows at the page's scope (``read``; ``INHERIT`` when it has
none), turns the submitted fields back into a value (``parse``) and says which rows that value
means (``rows``: a value per ``(key, channel)``, or ``INHERIT_ROW`` for "no row here"). The form
compares the submitted value with the one read, so a cell nobody touched writes nothing, even
when its rows are not in the canonical shape (a row written through the raw rule admin).

Values are plain and comparable: a token, a tuple ``(mode, number)`` or a frozenset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from cc_rules.engine.rulebook import RULES

if TYPE_CHECKING:
    from django.forms import BoundField
    from django.forms.utils import ErrorDict

    from .scope import ScopeRules


class RuleMatrixForm(Protocol):
    """What a cell needs of the matrix form (``form.RuleMatrixForm``), so cells never import
    the form that is built from them."""

    rules: ScopeRules
    errors: ErrorDict

    def __getitem__(self, name: str) -> BoundField: ...

    def add_error(self, field: str | None, error: Any) -> None: ...

    def add_prefix(self, field_name: str) -> str: ...


INHERIT = "inherit"  # the choice every cell offers: no row at this scope


class _InheritRow:
    def __repr__(self) -> str:
        return "INHERIT_ROW"


INHERIT_ROW = _InheritRow()  # in ``rows``: delete the row at this scope, if there is one

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


def select_field(label: str, choices: list[tuple[str, str]], **attrs: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=choices,
        initial=INHERIT,
        widget=forms.Select(attrs={"aria-label": label, "class": "cc-m-select", **attrs}),
    )


def number_field(label: str, mode_name: str, mode_value: str) -> forms.IntegerField:
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


def checkbox_field(label: str, **attrs: str) -> forms.BooleanField:
    return forms.BooleanField(
        required=False, widget=forms.CheckboxInput(attrs={"aria-label": label, **attrs})
    )


def hint_html(text: str) -> SafeString:
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
            hint_html(self.hint(form.rules)),
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
        return {self.name: select_field(self.label, choices)}

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
            self.name: select_field(f"{self.label}: choice", choices),
            self.number_name: number_field(
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
