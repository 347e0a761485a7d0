"""What the matrix shows: the channel rows, the columns, and the settings below the table."""

from __future__ import annotations

from dataclasses import dataclass

from cc_admin.live import CHANNEL_WORDS
from cc_rules.choices import Scope
from cc_rules.engine.rulebook import NUMBER_TYPES

from .cells import (
    AFTER_TIMER,
    NUMBER_TYPE_WORDS,
    YES_NO,
    Cell,
    ChoiceCell,
    NumberCell,
)
from .scope import Target
from .sets import DefaultVisibleCell, PairsCell, ReleaseCell, SetCell, VisibleCell
from .wrap_up import AcwCell, AfterDoneCell

# Rows of the table: the phone first, then written work, then conversations, IM last.
CHANNEL_ORDER = ["voice", "email", "workitem", "chat", "facebook", "twitter", "cobrowse", "im"]


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
