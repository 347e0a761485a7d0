"""Typed widgets for the raw rule admin's value, chosen by the rule's key.

The raw rule form keeps its JSON value field (``cc_admin.forms.RuleValueField``) so every
check stays in one place; on the page of an existing rule (whose key is then fixed) the widget
is a select, checkboxes or a number box that reads and writes that same JSON text. A new rule,
whose key is picked on the same page, keeps the JSON box.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from cc_admin.live import CHANNEL_WORDS
from cc_rules.engine.rulebook import (
    AFTER_DONE_CHOICES,
    AFTER_TIMER_CHOICES,
    CHANNELS,
    END_EVENTS,
    NUMBER_TYPES,
    RULES,
)

from .rule_matrix.cells import (
    AFTER_DONE_WORDS,
    END_EVENT_WORDS,
    NUMBER_TYPE_WORDS,
)

NUMBER_KEYS = {
    "channel_cap": "A whole number; empty for unlimited.",
    "total_cap": "A whole number; empty for unlimited.",
    "acw_seconds": "Seconds; empty for no timer.",
    "offer_timeout_seconds": "Seconds; empty: offers never expire.",
}
STATUS_WORDS = {"ready": "Ready", "not_ready": "Not ready"}


class JsonSelect(forms.Select):
    """A select whose option values are JSON texts (``true``, ``"ready"``)."""

    def __init__(self, options: list[tuple[Any, str]]) -> None:
        super().__init__(choices=[(json.dumps(v), label) for v, label in options])


class JsonCheckboxes(forms.CheckboxSelectMultiple):
    """Checkboxes of a set-valued rule; the form receives the ticked items as a JSON list."""

    def __init__(self, options: list[tuple[Any, str]]) -> None:
        super().__init__(choices=[(json.dumps(v), label) for v, label in options])

    def format_value(self, value: Any) -> list[str]:
        try:
            items = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            return []
        if not isinstance(items, list):
            return []
        return [json.dumps(item) for item in items]

    def value_from_datadict(self, data, files, name) -> str:
        picked = data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])
        return json.dumps([json.loads(item) for item in picked])

    def value_omitted_from_data(self, data, files, name) -> bool:
        return False  # no box ticked is the empty set, not a missing field


def typed_value_widget(key: str) -> forms.Widget | None:
    """The widget for ``key``'s value, or None to keep the JSON box."""
    definition = RULES.get(key)
    if definition is None:
        return None
    if isinstance(definition.default, bool):
        return JsonSelect([(True, "yes (true)"), (False, "no (false)")])
    if key == "acw_after_timer":
        return JsonSelect([(v, STATUS_WORDS[v]) for v in AFTER_TIMER_CHOICES])
    if key == "after_done":
        return JsonSelect([(v, AFTER_DONE_WORDS[v]) for v in AFTER_DONE_CHOICES])
    if key in NUMBER_KEYS:
        return forms.TextInput(
            attrs={"size": 8, "inputmode": "numeric", "placeholder": NUMBER_KEYS[key]}
        )
    if key == "pending_release_on":
        return JsonCheckboxes([(e, END_EVENT_WORDS[e]) for e in END_EVENTS])
    if key == "dialable_number_types":
        return JsonCheckboxes([(t, NUMBER_TYPE_WORDS[t]) for t in NUMBER_TYPES])
    if key == "blocking_pairs":
        return JsonCheckboxes(
            [
                ([a, b], f"while on {CHANNEL_WORDS[a]}, no new {CHANNEL_WORDS[b]}")
                for a in CHANNELS
                for b in CHANNELS
                if a != b
            ]
        )
    return None  # after_done_reason: a code typed as a word
