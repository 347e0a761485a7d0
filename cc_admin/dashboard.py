"""Dashboards for compliance staff and supervisors under /admin/dashboard/ (R16, issue 6).

Three read-only pages inside the admin's look: time in status per agent and day (stacked bars
drawn by the vendored Chart.js, served from our static files), the live board of agents and
their channel states, and the status history with filters. Access: active staff users in the
``compliance`` or ``supervisor`` group, or superusers; anonymous users and non-staff go to the
admin login, other staff get 403. Reads only: every number comes from
``cc_rules.services.audit`` or a plain query; nothing here writes. The history page filters
with ``cc_rules.filtersets.StatusChangeFilter``, the same filters as the API and its CSV.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from cc_admin.live import cap_use, elapsed
from cc_rules import scoping
from cc_rules.choices import OPEN_STATES, ChannelCode, Status
from cc_rules.models import Agent, AgentChannelState, Channel, Interaction
from cc_rules.selectors import db_now, effective_rules, rules_version
from cc_rules.services.audit import DND, HANDLING, can_read_audit, time_in_status

from .history_page import history_context

MAX_DAYS = 31
MAX_CHARTS = 24
SERIES = [  # stacked bottom-up; `ready` is split into handling and idle ready time
    (HANDLING, "Handling"),
    ("ready_idle", "Ready (idle)"),
    (Status.NOT_READY, "Not ready"),
    (Status.AFTER_CALL_WORK, "After-call work"),
]


def dashboard_view(view):
    """Compliance, supervisors (staff) and superusers only (issue 6, item 4)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not can_read_audit(user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _page(request: HttpRequest, template: str, tab: str, **context: Any) -> HttpResponse:
    base = admin.site.each_context(request)
    base["is_nav_sidebar_enabled"] = False  # the dashboards want the full width
    tabs = [
        ("time", "Time in status", reverse("dashboard:time-in-status")),
        ("live", "Live board", reverse("dashboard:live")),
        ("history", "History", reverse("dashboard:history")),
        ("integrity", "Integrity", reverse("dashboard:integrity")),
    ]
    return render(
        request,
        template,
        {
            **base,
            "tab": tab,
            "tabs": tabs,
            "title": {t: n for t, n, _ in tabs}[tab],
            **context,
        },
    )


# --- time in status per agent and day -----------------------------------------------------------
class RangeForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    days = forms.IntegerField(required=False, min_value=1, max_value=MAX_DAYS, initial=7)
    agent = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(
        required=False, choices=[("", "All channels"), *ChannelCode.choices]
    )

    def clean_start(self) -> date | None:
        start = self.cleaned_data.get("start")
        if start and not 1900 <= start.year <= 9000:
            raise forms.ValidationError("Pick a date between the years 1900 and 9000.")
        return start

    def __init__(self, *args: Any, agents: QuerySet, **kwargs: Any) -> None:
        """``agents``: the ones the user may pick (``cc_rules.scoping.visible_agents``)."""
        super().__init__(*args, **kwargs)
        names = agents.order_by("user__username").values_list("user__username", flat=True)
        self.fields["agent"].choices = [("", "All agents"), *((n, n) for n in names)]


@dashboard_view
def time_in_status_page(request: HttpRequest) -> HttpResponse:
    """Stacked bars per agent: hours per status and day (channels summed, or one channel).
    A supervisor picks among and sees the numbers of their teams' agents only."""
    visible = scoping.visible_agents(request.user)
    form = RangeForm(request.GET or None, agents=visible)
    data = form.cleaned_data if form.is_valid() else {}
    now = db_now()
    days = data.get("days") or 7
    start = data.get("start") or (now.date() - timedelta(days=days - 1))
    agent = visible.filter(user__username=data["agent"]).first() if data.get("agent") else None
    scope = scoping.visible_agent_ids(request.user)
    channel = data.get("channel") or None

    labels = [(start + timedelta(days=i)) for i in range(days)]
    hours: dict[str, dict[str, list[float]]] = defaultdict(
        lambda: {key: [0.0] * days for key, _ in [*SERIES, (DND, "")]}
    )
    for i, day in enumerate(labels):
        since = datetime.combine(day, time.min, tzinfo=UTC)
        if since > now:
            break
        for row in time_in_status(
            agent=agent, agents=scope, since=since, until=since + timedelta(days=1), now=now
        ):
            if row["status"] == DND:
                hours[row["agent"]][DND][i] += row["seconds"] / 3600
                continue
            if channel and row["channel"] != channel:
                continue
            key = "ready_idle" if row["status"] == Status.READY else row["status"]
            if key in hours[row["agent"]]:
                hours[row["agent"]][key][i] += row["seconds"] / 3600
            if row["status"] == HANDLING:  # handling is part of ready: take it out of idle
                hours[row["agent"]]["ready_idle"][i] -= row["seconds"] / 3600

    totals = {
        name: {key: round(sum(v), 2) for key, v in series.items()} for name, series in hours.items()
    }
    ranked = sorted(hours, key=lambda n: -sum(totals[n][k] for k, _ in SERIES))
    charts = [
        {
            "agent": name,
            "series": {k: [round(max(v, 0), 3) for v in hours[name][k]] for k in hours[name]},
        }
        for name in ranked[:MAX_CHARTS]
    ]
    return _page(
        request,
        "cc_admin/dashboard/time_in_status.html",
        "time",
        form=form,
        chart_data={
            "labels": [d.strftime("%a %d %b") for d in labels],
            "series": [{"key": k, "label": label} for k, label in SERIES],
            "dnd": {"key": DND, "label": "Do not disturb"},
            "charts": charts,
        },
        table=[{"agent": n, **totals[n]} for n in ranked],
        hidden=max(0, len(ranked) - MAX_CHARTS),
        period=f"{labels[0]:%d %b %Y} to {labels[-1]:%d %b %Y}",
        channel=dict(ChannelCode.choices).get(channel, "all channels") if channel else None,
    )


# --- live board ---------------------------------------------------------------------------------
@dashboard_view
def live_board(request: HttpRequest) -> HttpResponse:
    """The agents the user may see (``scoping.visible_agents``: a supervisor their teams') and
    their channels now: status, reason, time in status (mm:ss), cap use (open/cap), pending; DND;
    a link to each agent's page and, where the user may act on the agent, to its supervisor
    actions.

    A bounded number of queries whatever the head count (tests/admin/test_supervisor_admin.py):
    channels, agents, channel states, open work (one grouped count), the agents the user may
    act on, and the rules version; effective caps come from the process's rule snapshot
    (``selectors.effective_rules``), resolved in memory per agent.
    """
    now = db_now()
    user = request.user
    agents = list(
        scoping.visible_agents(user, Agent.objects.filter(is_active=True)).select_related(
            "user", "role"
        )
    )
    ids = [agent.pk for agent in agents]
    actionable = set(
        scoping.actionable_agents(user, Agent.objects.filter(pk__in=ids)).values_list(
            "pk", flat=True
        )
    )
    counting: dict[tuple[int, str], int] = defaultdict(int)
    open_work: dict[tuple[int, str], int] = defaultdict(int)
    for row in (
        Interaction.objects.filter(state__in=OPEN_STATES, agent_id__in=ids)
        .values("agent_id", "channel_id", "counts_toward_cap")
        .annotate(n=Count("id"))
    ):
        key = (row["agent_id"], row["channel_id"])
        open_work[key] += row["n"]
        if row["counts_toward_cap"]:
            counting[key] += row["n"]
    states: dict[int, dict[str, AgentChannelState]] = defaultdict(dict)
    for state in AgentChannelState.objects.filter(agent_id__in=ids):
        states[state.agent_id][state.channel_id] = state
    used_codes = {code for s in states.values() for code in s} | {c for _, c in open_work}
    used = [c for c in Channel.objects.order_by("code") if c.code in used_codes]
    version = rules_version()
    rows = []
    summary = {
        "agents": 0,
        "logged_in": 0,
        "ready": 0,
        "not_ready": 0,
        "after_call_work": 0,
        "dnd": 0,
        "open_work": sum(open_work.values()),
    }
    for agent in agents:
        rules = effective_rules(agent, version)
        cells = []
        logged_in = False
        for channel in used:
            state = states[agent.pk].get(channel.code)
            key = (agent.pk, channel.code)
            count = open_work.get(key, 0)
            on = state is not None and state.status != Status.LOGGED_OFF
            if on:
                logged_in = True
                summary[state.status] = summary.get(state.status, 0) + 1
            seen = channel.code in rules.visible or count > 0
            cells.append(
                {
                    "channel": channel,
                    "state": state,
                    "open": count,
                    "seconds": int((now - state.since).total_seconds()) if state else None,
                    "elapsed": elapsed(state.since, now) if on else "",
                    "cap": cap_use(rules, channel.code, counting.get(key, 0))
                    if seen and (on or count)
                    else "",
                }
            )
        summary["agents"] += 1
        summary["logged_in"] += logged_in
        summary["dnd"] += agent.dnd
        rows.append(
            {
                "agent": agent,
                "cells": cells,
                "logged_in": logged_in,
                "url": reverse("admin:cc_rules_agent_change", args=[agent.pk]),
                "may_act": agent.pk in actionable,
            }
        )
    rows.sort(key=lambda r: (not r["logged_in"], r["agent"].user.username))
    template = (
        "cc_admin/dashboard/_live_board.html"
        if request.GET.get("partial")
        else "cc_admin/dashboard/live.html"
    )
    return _page(request, template, "live", rows=rows, channels=used, summary=summary, now=now)


# --- history ------------------------------------------------------------------------------------
@dashboard_view
def history_page(request: HttpRequest) -> HttpResponse:
    """The ledger newest first with the API's filters and scoping (``cc_admin.history_page``);
    keyset pages, so deep pages stay cheap; the CSV link exports every matching row."""
    return _page(request, "cc_admin/dashboard/history.html", "history", **history_context(request))


# --- integrity: signed checkpoints of the chain heads (docs/audit.md) ----------------------------
CHECKPOINTS_SHOWN = 20


@dashboard_view
def integrity_page(request: HttpRequest) -> HttpResponse:
    """Read-only: the newest signed checkpoints (is each signature valid?) and the current chain
    heads compared with the newest one (a head behind it means rows were cut and the chain
    wound back). The full row-by-row check is ``verify_history`` / ``GET /audit/verify/``."""
    from cc_rules.services import checkpoints

    files = []
    for path in checkpoints.checkpoint_files()[:CHECKPOINTS_SHOWN]:
        try:
            found, problem = checkpoints.read_checkpoint(path), ""
        except checkpoints.CheckpointError as exc:
            found, problem = None, str(exc)
        files.append({"name": path.name, "checkpoint": found, "problem": problem})
    latest, latest_problem = checkpoints.latest_checkpoint()
    compared = []
    if latest is not None:
        names = dict(Agent.objects.values_list("id", "user__username"))
        current = {
            pk: (seq, head)
            for pk, seq, head in Agent.objects.values_list("id", "history_seq", "history_head")
        }
        # A supervisor compares their teams' agents only (names of others stay unseen).
        visible = scoping.visible_agent_ids(request.user)
        scope = None if visible is None else set(visible)
        for pk, (seq, head) in sorted(latest.heads.items()):
            if scope is not None and pk not in scope:
                continue
            now_seq, now_head = current.get(pk, (None, None))
            if now_seq is None:
                verdict = "agent gone"
            elif now_seq < seq:
                verdict = f"REWOUND: rows seq {now_seq + 1}..{seq} missing"
            elif now_seq == seq and now_head != head:
                verdict = "DIFFERS from the checkpoint"
            else:
                verdict = "ok"
            compared.append(
                {"agent": names.get(pk, pk), "saved": seq, "now": now_seq, "verdict": verdict}
            )
    return _page(
        request,
        "cc_admin/dashboard/integrity.html",
        "integrity",
        files=files,
        latest=latest,
        latest_problem=latest_problem,
        compared=compared,
        broken=[c for c in compared if c["verdict"] != "ok"],
        directory=settings.CC_CHECKPOINT_DIR,
    )
