"""Supervisor actions on the agent page (issue 16, item 2): set a channel's status with a reason,
log a channel off, log the agent out of every channel, turn DND off, extend or end a wrap-up.

``SupervisorActionsMixin`` gives ``AgentAdmin`` the "Supervisor actions" panel (shown above the
form, template ``admin/cc_rules/agent/supervisor_actions.html``) and its POST view
``/admin/cc_rules/agent/<id>/act/``. Every button is a small POST form (CSRF) to that view, which
calls the same service as the API (``status.supervisor_force_status``,
``services.supervisor``) with the signed-in user as actor and the request's id, then redirects
back (to the page it came from: the agent page or the live board) with a success message or the
engine's refusal (``messages.error``) — never a 500.

Who: ``cc_rules.scoping``. A user who may act on the agent (their team's supervisor, a
superuser) sees the panel and may post; one who may only see the agent (compliance) sees no
panel and gets 403 on a post; anyone else gets 404, as if the agent did not exist.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from cc_admin.live import CHANNEL_WORDS, STATUS_WORDS, cap_use, elapsed
from cc_rules import scoping
from cc_rules.choices import Status
from cc_rules.models import Agent, ReasonCode
from cc_rules.selectors import agent_live, db_now, effective_rules
from cc_rules.services import supervisor
from cc_rules.services.errors import ServiceError
from cc_rules.services.sessions import retry_transient
from cc_rules.services.status import supervisor_force_status

PANEL_ID = "supervisor-actions"
ACTIONS = {
    "status": "Set the channel's status",
    "log_off": "Log off this channel",
    "logout": "Log out of all channels",
    "dnd_off": "Turn DND off",
    "extend": "Extend wrap-up",
    "end": "End wrap-up",
}
CHANNEL_ACTIONS = frozenset({"status", "log_off", "extend", "end"})
# What a supervisor may set from the select; logging off has its own button, and
# after-call work is entered only by the system.
SETTABLE = [(Status.READY, STATUS_WORDS[Status.READY]), (Status.NOT_READY, "Not ready")]


class ActionForm(forms.Form):
    """One supervisor action as posted by a button of the panel (or the live board)."""

    # Not "action": that name is the admin's bulk-action select (tests look for it as a marker
    # of model writes, which this panel is not).
    act = forms.ChoiceField(choices=list(ACTIONS.items()))
    channel = forms.CharField(required=False, max_length=32)
    status = forms.ChoiceField(required=False, choices=SETTABLE)
    reason = forms.CharField(required=False, max_length=32)
    next = forms.CharField(required=False, max_length=2000)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("act")
        if action in CHANNEL_ACTIONS and not data.get("channel"):
            raise forms.ValidationError("Pick a channel.")
        if action == "status" and not data.get("status"):
            raise forms.ValidationError("Pick a status.")
        if data.get("status") != Status.NOT_READY:
            data["reason"] = ""  # the reason select is for Not ready only
        return data


def _reason_labels(agent: Agent, codes: frozenset[str]) -> list[tuple[str, str]]:
    """The agent's Not Ready reasons as (code, label), the role's label over the global one."""
    labels: dict[str, str] = {}
    for code, label, role_id in ReasonCode.objects.filter(code__in=codes).values_list(
        "code", "label", "role_id"
    ):
        if role_id == agent.role_id or (role_id is None and code not in labels):
            labels[code] = label
    return sorted(((c, labels.get(c, c)) for c in codes), key=lambda pair: pair[1].lower())


def panel_context(request: HttpRequest, agent: Agent) -> dict[str, Any]:
    """What the panel shows: one row per channel the agent has (visible, or with open work),
    and the agent-wide buttons. Reads only."""
    now = db_now()
    rules = effective_rules(agent)
    live, states = agent_live(agent)
    rows = []
    for code in CHANNEL_WORDS:
        state = states.get(code)
        here = live.channel(code)
        if code not in rules.visible and not here.open_work:
            continue
        status = here.status
        rows.append(
            {
                "code": code,
                "channel": CHANNEL_WORDS[code],
                "status": status,
                "status_words": STATUS_WORDS.get(status, status),
                "reason": here.reason or "",
                "elapsed": elapsed(state.since, now) if state and status != "logged_off" else "",
                "cap": cap_use(rules, code, here.open_count),
                "open": here.open_work,
                "pending": STATUS_WORDS.get(here.pending_status, "")
                + (f" ({here.pending_reason})" if here.pending_reason else ""),
                "in_acw": status == Status.AFTER_CALL_WORK,
                "extended": bool(state and state.wrap_up_extended),
                "deadline": state.wrap_up_deadline if state else None,
                "logged_in": status != Status.LOGGED_OFF,
            }
        )
    return {
        "panel_id": PANEL_ID,
        "act_url": reverse("admin:cc_rules_agent_act", args=[agent.pk]),
        "next": request.get_full_path(),
        "agent": agent,
        "rows": rows,
        "statuses": SETTABLE,
        "reasons": _reason_labels(agent, rules.reason_codes),
        "any_logged_in": any(r["logged_in"] for r in rows),
        "dnd": agent.dnd,
    }


def _success(agent: Agent, action: str, result: Any) -> str:
    name = agent.user.get_username()
    if action == "logout":
        return f"{name} is logged out of every channel; do-not-disturb is off."
    if action == "dnd_off":
        return f"{name}'s do-not-disturb is off."
    state = result.state
    channel = CHANNEL_WORDS.get(result.channel, result.channel)
    if action == "extend":
        return f"{name} · {channel}: wrap-up extended; it ends when the agent is done."
    words = STATUS_WORDS.get(state.status, state.status)
    reason = f" ({state.reason})" if state.reason else ""
    return f"{name} · {channel}: {words}{reason}."


def run_action(request: HttpRequest, agent: Agent, data: dict[str, Any]) -> Any:
    """The one service call an action makes, with the signed-in user as actor."""
    who = {"actor": request.user, "request_id": getattr(request, "request_id", "")}
    action, channel = data["act"], data.get("channel") or ""
    calls = {
        "status": lambda: supervisor_force_status(
            agent.pk, channel, status=data["status"], reason=data["reason"] or None, **who
        ),
        "log_off": lambda: supervisor_force_status(
            agent.pk, channel, status=Status.LOGGED_OFF, reason=None, **who
        ),
        "logout": lambda: supervisor.supervisor_logout(agent.pk, **who),
        "dnd_off": lambda: supervisor.supervisor_set_dnd(agent.pk, enabled=False, **who),
        "extend": lambda: supervisor.supervisor_wrap_up_extend(agent.pk, channel, **who),
        "end": lambda: supervisor.supervisor_wrap_up_end(agent.pk, channel, **who),
    }
    return retry_transient(calls[action])


class SupervisorActionsMixin:
    """``AgentAdmin``'s supervisor panel and its POST view (see the module docstring)."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.supervisor_act_view)
        return [
            path("<path:object_id>/act/", view, name="cc_rules_agent_act"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        agent = _agent(unquote(object_id))
        if agent is not None and scoping.may_act_on_agent(request.user, agent):
            extra["supervisor_panel"] = panel_context(request, agent)
        return super().change_view(request, object_id, form_url, extra)

    def supervisor_act_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        agent = _agent(unquote(object_id))
        if agent is None or not scoping.may_see_agent(request.user, agent):
            raise Http404("No such agent.")
        if not scoping.may_act_on_agent(request.user, agent):
            raise PermissionDenied  # compliance: may look, never act
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = ActionForm(request.POST)
        back = _back(request, agent, form.data.get("next", ""))
        if not form.is_valid():
            problems = "; ".join(e for errors in form.errors.values() for e in errors)
            messages.error(request, f"Nothing changed: {problems}")
            return redirect(back)
        data = form.cleaned_data
        try:
            result = run_action(request, agent, data)
        except ServiceError as refused:
            messages.error(request, f"Refused ({refused.code}): {refused.detail}")
        else:
            messages.success(request, _success(agent, data["act"], result))
        return redirect(back)


def _agent(object_id: Any) -> Agent | None:
    """The active agent ``object_id`` (whoever asks; the caller checks scoping)."""
    try:
        pk = int(str(object_id))
    except ValueError:
        return None
    return Agent.objects.select_related("user", "role").filter(pk=pk, is_active=True).first()


def _back(request: HttpRequest, agent: Agent, wanted: str) -> str:
    """Where to go after the action: the page that posted (same site only), else the agent's
    page at the panel."""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return reverse("admin:cc_rules_agent_change", args=[agent.pk]) + f"#{PANEL_ID}"
