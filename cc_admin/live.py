"""How live state reads in the admin and on the live board: time in status, cap use, words.

Shared by the live board (``cc_admin.dashboard.live_board``) and the agent page's supervisor
panel (``cc_admin.admin.supervise``), so both say the same thing the same way.
"""

from __future__ import annotations

from datetime import datetime

from cc_rules.choices import ChannelCode, Status
from cc_rules.engine.types import EffectiveRules

STATUS_WORDS = dict(Status.choices)
CHANNEL_WORDS = dict(ChannelCode.choices)
UNLIMITED = "∞"
# IM is not routed work and never counts toward a cap (DECISIONS.md "IM"): no cap use shown.
NO_CAP_CHANNELS = frozenset({"im"})


def elapsed(since: datetime | None, now: datetime) -> str:
    """Time in status as ``m:ss`` (``mm:ss`` from ten minutes), ``h:mm:ss`` past an hour."""
    if since is None:
        return ""
    seconds = max(0, int((now - since).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


def cap_use(rules: EffectiveRules, channel: str, used: int) -> str:
    """``open/cap`` for the channel's effective cap (R9): ``2/3``, ``1/∞`` when unlimited; empty
    for a channel without caps (IM)."""
    if channel in NO_CAP_CHANNELS:
        return ""
    cap = rules.value("channel_cap", channel)
    return f"{used}/{UNLIMITED if cap is None else cap}"
