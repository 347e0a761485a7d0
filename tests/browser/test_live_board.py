"""Issue 16, items 2 and 6, in a real browser at 1366 x 768: the live board links to each agent,
shows cap use (``2/3``) and time in status (mm:ss), fits without a horizontal scrollbar, its
status pills read at ≥ 4.5:1 and every field has a label; a supervisor forces Not Ready from the
board's "Act" link on the agent page, and the API then shows it.

Debian's ``chromium`` through tests/browser/harness.py (no browser download); screenshots go
to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from cc_rules.models import Agent, Interaction
from cc_rules.services import interactions
from cc_rules.services import status as status_svc
from tests.factories import InteractionFactory, token_for

from .harness import chromium, horizontal_overflow, login, shot

BOARD = "/admin/dashboard/live/"
TIME = re.compile(r"^(\d{2}:\d{2}|\d+:\d{2}:\d{2})$")


def _agent(name: str) -> Agent:
    return Agent.objects.select_related("user").get(user__username=name)


def _who(name: str) -> dict:
    return {"actor": get_user_model().objects.get(username=name), "request_id": "browser-setup"}


def _work(name: str, channel: str) -> Interaction:
    return InteractionFactory(agent=_agent(name), channel_id=channel)


def a_busy_floor() -> None:
    """Every demo agent logged into every channel their role sees, and work in every shape:
    alice with two e-mails open (2/3) and a chat (1/2), bob in after-call work, erin not ready
    for lunch, tom in DND, sofia on every social channel with a facebook message open."""
    for agent in Agent.objects.filter(is_active=True):
        status_svc.session_login(agent.pk, channels=None, **_who(agent.user.username))
    ready = {
        "alice": ["voice", "email", "chat"],
        "bob": ["voice"],
        "tom": ["voice", "email", "chat"],
        "sofia": ["chat", "facebook", "twitter", "workitem", "cobrowse"],
        "nina": ["voice"],
    }
    for name, channels in ready.items():
        for channel in channels:
            status_svc.channel_set_status(
                _agent(name).pk, channel, status="ready", reason=None, **_who(name)
            )
    _work("alice", "email")
    _work("alice", "email")
    _work("alice", "chat")
    call = _work("bob", "voice")
    interactions.interaction_end(_agent("bob"), call.pk, how="hangup", workbin=None, **_who("bob"))
    status_svc.channel_set_status(
        _agent("erin").pk, "email", status="not_ready", reason="lunch", **_who("erin")
    )
    status_svc.agent_set_dnd(_agent("tom").pk, enabled=True, **_who("tom"))
    _work("sofia", "facebook")


def _rgb(text: str) -> tuple[float, float, float, float]:
    parts = [float(p) for p in re.findall(r"[\d.]+", text)]
    return (*parts[:3], parts[3] if len(parts) > 3 else 1.0)  # type: ignore[return-value]


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two opaque CSS colours (``rgb(…)``)."""
    high, low = sorted((_luminance(_rgb(foreground)), _luminance(_rgb(background))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_of_known_pairs():
    assert round(contrast("rgb(255, 255, 255)", "rgb(0, 0, 0)"), 1) == 21.0
    assert contrast("rgb(255, 255, 255)", "rgb(47, 158, 98)") < 4.5  # the old ready pill


# Each pill's text colour, the first opaque background behind it, and the opacity it is drawn
# with (a dimmed row would lower the contrast the colours promise).
PILLS_JS = """() => Array.from(document.querySelectorAll('.cc-pill')).map(el => {
  const cs = getComputedStyle(el);
  let node = el, bg = cs.backgroundColor, opacity = 1;
  for (let n = el; n; n = n.parentElement) opacity *= Number(getComputedStyle(n).opacity);
  while (/rgba\\(.*, 0\\)$|transparent/.test(bg) && node.parentElement) {
    node = node.parentElement; bg = getComputedStyle(node).backgroundColor;
  }
  return {text: el.textContent.trim(), color: cs.color, bg: bg, opacity: opacity};
})"""
UNLABELLED_JS = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]):not([type=submit]), select, textarea'))
  .filter(el => el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id)"""
BOXES_JS = """() => Array.from(document.querySelectorAll('.cc-scroll'))
  .map(el => el.scrollWidth - el.clientWidth)"""


def assert_fits(page, what: str) -> None:
    """Neither the page nor a table in its ``.cc-scroll`` box scrolls sideways."""
    overflow = horizontal_overflow(page)
    assert overflow <= 0, f"{what}: the page scrolls sideways by {overflow} px"
    boxes = page.evaluate(BOXES_JS)
    assert all(w <= 0 for w in boxes), f"{what}: a table scrolls sideways: {boxes}"


def assert_pills_readable(page) -> None:
    pills = page.evaluate(PILLS_JS)
    assert pills
    for pill in pills:
        ratio = contrast(pill["color"], pill["bg"])
        assert ratio >= 4.5, f"pill {pill['text']!r}: {ratio:.2f}:1 ({pill})"
        assert pill["opacity"] == 1, f"pill {pill['text']!r} is dimmed"


@pytest.mark.browser
def test_a_supervisor_runs_the_floor_from_the_live_board(live_server, demo_world, monkeypatch):
    a_busy_floor()
    token = token_for(get_user_model().objects.get(username="sam"))
    alice_page = f"/admin/cc_rules/agent/{_agent('alice').pk}/change/"
    base = live_server.url

    with chromium(monkeypatch) as browser:
        # -- a superuser's board: every agent, every channel in use, still 1366 px wide
        admin = login(browser, base, "admin", next=BOARD)
        names = admin.locator(".cc-board tbody th a.cc-agent").all_inner_texts()
        assert {"alice", "bob", "erin", "tom", "sofia", "nina", "sam"} <= set(names)
        assert admin.locator(".cc-board thead th").count() == 9  # agent + 8 channels
        assert_fits(admin, "the superuser's board")
        assert_pills_readable(admin)
        shot(admin, "live-board-admin-1366")
        admin.close()

        # -- sam's board: his team only, links, cap use, mm:ss
        page = login(browser, base, "sam", next=BOARD)
        names = page.locator(".cc-board tbody th a.cc-agent").all_inner_texts()
        assert sorted(names) == ["alice", "bob", "erin", "sofia", "tom"]  # not nina (back)
        alice = page.locator('tr[data-agent="alice"]')
        assert alice.locator("a.cc-agent").get_attribute("href") == alice_page
        assert alice.locator('td[data-channel="email"] .cc-cap').inner_text().endswith("2/3")
        assert alice.locator('td[data-channel="chat"] .cc-cap').inner_text().endswith("1/2")
        times = [t.split()[-1] for t in page.locator(".cc-board .cc-time").all_inner_texts()]
        assert times
        assert all(TIME.match(t) for t in times), times
        assert page.locator('tr[data-agent="bob"] .cc-pill.s-after_call_work').count() == 1
        assert_fits(page, "sam's board")
        assert_pills_readable(page)
        assert page.evaluate(UNLABELLED_JS) == []
        shot(page, "live-board-supervisor-1366")

        # -- from the board to alice's actions: force Not ready (break) on voice
        page.click('a[aria-label="Supervisor actions for alice"]')
        page.wait_for_url(f"{base}{alice_page}#supervisor-actions")
        assert page.evaluate(UNLABELLED_JS) == []
        panel = page.locator("#supervisor-actions")
        panel.locator("#sv-voice-status").select_option("not_ready")
        panel.locator("#sv-voice-reason").select_option("break")
        panel.locator('tr[data-channel="voice"] form.cc-supervise__set button').click()
        page.wait_for_load_state()
        # (the admin's message list capitalises the first letter)
        assert page.locator(".messagelist .success").text_content().strip() == (
            "Alice · Voice: Not ready (break)."
        )
        assert_fits(page, "alice's agent page")
        shot(page, "agent-supervisor-actions-1366", full_page=False)

        # the engine's refusal, as a message: alice still has work open
        panel.get_by_role("button", name="Log out of all channels").click()
        page.wait_for_load_state()
        refusal = page.locator(".messagelist .error").text_content().strip()
        assert refusal.startswith("Refused (active_interactions): 3 interaction(s) still open")

        # the API shows what the supervisor did
        answer = page.request.get(
            f"{base}/api/v1/agents/alice/", headers={"Authorization": f"Token {token}"}
        )
        assert answer.status == 200
        voice = next(c for c in answer.json()["channels"] if c["channel"] == "voice")
        assert (voice["status"], voice["reason"]) == ("not_ready", "break")
