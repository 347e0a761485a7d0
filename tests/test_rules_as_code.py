"""``manage.py export_rules`` / ``import_rules``: rules as code (issue 16, item 8).

The file format and the import's rules are in docs/rules-as-code.md. The properties: export →
import into an empty configuration → export is byte-identical (the demo rules and generated rule
sets); an import checks everything first and writes nothing when anything is wrong, naming each
problem; it applies in one transaction or not at all; only real changes are written, each with
its history row; ``--dry-run`` writes nothing.
"""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cc_rules.engine.reasons import SYSTEM_REASONS
from cc_rules.engine.rulebook import (
    AFTER_DONE_CHOICES,
    AFTER_TIMER_CHOICES,
    CHANNELS,
    END_EVENTS,
    NUMBER_TYPES,
    RULES,
)
from cc_rules.models import Agent, Channel, ReasonCode, Role, Rule, RulesVersion, Workbin
from cc_rules.services.rules_file import ABOUT
from tests.conftest import seed_demo_world
from tests.factories import (
    InteractionFactory,
    WorkbinFactory,
    a_role,
    an_agent,
    reason_codes,
    set_rules,
)

pytestmark = pytest.mark.django_db

DOC = Path(settings.BASE_DIR) / "docs" / "rules-as-code.md"


# -- helpers ------------------------------------------------------------------------------------
def export() -> str:
    out = StringIO()
    call_command("export_rules", stdout=out)
    return out.getvalue()


def import_file(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_rules", str(path), *args, stdout=out)
    return out.getvalue()


def import_text(tmp_path: Path, text: str, *args: str, name: str = "rules.json") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return import_file(path, *args)


def refused(tmp_path: Path, text: str, *args: str) -> CommandError:
    with pytest.raises(CommandError) as exc:
        import_text(tmp_path, text, *args)
    return exc.value


def history_rows() -> int:
    return Rule.history.count() + Role.history.count() + ReasonCode.history.count()


def rules_version() -> tuple[int, str]:
    version = RulesVersion.objects.get(pk=1)
    return version.value, str(version.token)


def state() -> tuple[str, int, tuple[int, str]]:
    """Everything a refused or dry-run import must leave alone."""
    return export(), history_rows(), rules_version()


def empty_configuration(*, keep_agents: bool) -> None:
    """Only reference data left: no rules, reason codes, workbins or visibility; roles go too,
    except (``keep_agents``) the bare rows the agents' ``role`` needs (no label, no channels)."""
    Rule.objects.all().delete()
    ReasonCode.objects.all().delete()
    Workbin.objects.all().delete()
    Channel.objects.update(visible_by_default=False)
    if not keep_agents:
        Agent.objects.all().delete()
    Role.objects.exclude(agents__isnull=False).delete()
    for role in Role.objects.all():
        role.visible_channels.clear()
        Role.objects.filter(pk=role.pk).update(label="")
    assert json.loads(export())["roles"] == {
        role.name: {"label": "", "visible_channels": None, "reason_codes": {}, "rules": {}}
        for role in Role.objects.all()
    }


def document(**parts: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "cc-rules-config",
        "version": 1,
        "global": {"visible_channels": [], "reason_codes": {}, "rules": {}},
        "roles": {},
        "agents": {},
        "workbins": {},
    }
    doc.update(parts)
    return doc


def a_role_doc(label: str = "", visible=None, codes=None, rules=None, **more) -> dict[str, Any]:
    return {
        "label": label,
        "visible_channels": visible,
        "reason_codes": codes or {},
        "rules": rules or {},
        **more,
    }


# -- the demo -----------------------------------------------------------------------------------
def test_the_demo_rules_round_trip_byte_identically_through_an_empty_database(tmp_path):
    seed_demo_world()
    exported = export()
    assert '"channel_cap": {"chat": 2, "email": 3, "voice": 1},' in exported
    assert exported.endswith("}\n")
    empty_configuration(keep_agents=False)
    assert not Role.objects.exists()

    import_text(tmp_path, exported, name="demo.json")

    assert export() == exported


def test_the_demo_export_is_the_demo_fixture_s_configuration():
    seed_demo_world()
    demo = json.loads((Path(settings.BASE_DIR) / "fixtures" / "demo.json").read_text())
    exported = json.loads(export())
    assert set(exported["roles"]) == {role["name"] for role in demo["roles"]}
    blended = next(role for role in demo["roles"] if role["name"] == "blended")
    assert exported["roles"]["blended"]["rules"]["channel_cap"] == blended["rules"]["channel_cap"]
    assert exported["roles"]["blended"]["visible_channels"] == sorted(blended["visible"])
    assert exported["global"]["reason_codes"] == {
        code["code"]: code["label"] for code in demo["reason_codes"]
    }
    assert exported["agents"] == {}


# -- generated rule sets ------------------------------------------------------------------------
SLUG = r"[a-z][a-z0-9_-]{0,9}"
names = st.from_regex(SLUG, fullmatch=True)
codes = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True).filter(
    lambda c: c not in SYSTEM_REASONS
)
labels = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
code_labels = labels.filter(bool)  # a reason code's label is required
channel_lists = st.lists(st.sampled_from(CHANNELS), unique=True, min_size=1, max_size=3).map(sorted)
PAIRS = [[a, b] for a in CHANNELS for b in CHANNELS if a != b]
AGENTS = ("agent-a", "agent-b")


def value_strategies(scope_codes: list[str]) -> dict[str, st.SearchStrategy]:
    """A valid value for every rulebook key, given the reason codes the rule's scope may name."""
    caps = st.none() | st.integers(0, 1000)
    seconds = st.none() | st.integers(1, 86400)
    reasons = st.sampled_from(scope_codes) if scope_codes else st.nothing()
    return {
        "channel_cap": caps,
        "total_cap": caps,
        "blocking_pairs": st.lists(st.sampled_from(PAIRS), max_size=4),
        "pending_enabled": st.booleans(),
        "pending_release_on": st.lists(st.sampled_from(END_EVENTS), unique=True),
        "reason_required": st.booleans() if scope_codes else st.just(False),
        "acw_enabled": st.booleans(),
        "acw_seconds": seconds,
        "acw_after_timer": st.sampled_from(AFTER_TIMER_CHOICES),
        "acw_extendable": st.booleans(),
        "after_done": st.sampled_from(AFTER_DONE_CHOICES),
        "after_done_reason": st.none() | reasons,
        "mark_done_required": st.booleans(),
        "click_to_contact": st.booleans(),
        "consult_takes_slot": st.booleans(),
        "acw_after_assist": st.booleans(),
        "offer_timeout_seconds": seconds,
        "missed_offer_not_ready": st.booleans(),
        "dialable_number_types": st.lists(st.sampled_from(NUMBER_TYPES), unique=True),
    }


def test_the_generator_knows_every_rule_of_the_rulebook():
    """A rule added to the rulebook must get a strategy, or the round trip would not cover it."""
    assert set(value_strategies([])) == set(RULES)


def encoded(key: str, value: Any) -> Any:
    return RULES[key].encode(RULES[key].parse(value))


@st.composite
def rule_parts(draw, scope_codes: list[str]) -> dict[str, Any]:
    """``{"rules": …}`` (and ``"notes"``) for one scope, every value valid for it."""
    strategies = value_strategies(scope_codes)
    rules: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for key in draw(st.lists(st.sampled_from(sorted(RULES)), unique=True, max_size=5)):
        if RULES[key].per_channel:
            rules[key] = {c: encoded(key, draw(strategies[key])) for c in draw(channel_lists)}
            noted = [f"{key}.{c}" for c in rules[key]]
        else:
            rules[key] = encoded(key, draw(strategies[key]))
            noted = [key]
        for name in noted:
            note = draw(st.one_of(st.just(""), st.just(""), labels))
            if note:
                notes[name] = note
    return {"rules": rules, "notes": notes} if notes else {"rules": rules}


@st.composite
def configurations(draw, agent_roles: dict[str, str] | None = None) -> dict[str, Any]:
    """A whole rules file (as export would read it back) with overrides for the test's agents;
    ``agent_roles``: the agents' roles (which the file must keep), else drawn from its roles."""
    global_codes = draw(st.dictionaries(codes, code_labels, max_size=3))
    doc = document(about=ABOUT)
    doc["global"] = {
        "visible_channels": draw(st.lists(st.sampled_from(CHANNELS), unique=True).map(sorted)),
        "reason_codes": global_codes,
        **draw(rule_parts(sorted(global_codes))),
    }
    held = sorted(set((agent_roles or {}).values()))
    drawn = draw(st.lists(names, unique=True, min_size=0 if held else 1, max_size=3))
    for name in sorted({*held, *drawn}):
        own = draw(st.dictionaries(codes, code_labels, max_size=2))
        doc["roles"][name] = {
            "label": draw(labels),
            "visible_channels": draw(st.none() | channel_lists),
            "reason_codes": own,
            **draw(rule_parts(sorted(own or global_codes))),
        }
    if agent_roles is None:
        agent_roles = {username: draw(st.sampled_from(sorted(doc["roles"]))) for username in AGENTS}
    for username, role in agent_roles.items():
        role_codes = doc["roles"][role]["reason_codes"] or global_codes
        part = draw(rule_parts(sorted(role_codes)))
        if part["rules"]:
            doc["agents"][username] = part
    for name in draw(st.lists(names, unique=True, max_size=2)):
        bins = draw(st.lists(st.sampled_from(["email", "workitem"]), unique=True).map(sorted))
        doc["workbins"][name] = {"label": draw(labels), "channels": bins}
    return {"document": doc, "agent_roles": agent_roles}


@st.composite
def two_configurations(draw) -> tuple[dict[str, Any], dict[str, Any]]:
    first = draw(configurations())
    return first, draw(configurations(agent_roles=first["agent_roles"]))


BOUNDED = hypothesis_settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def make_agents(agent_roles: dict[str, str]) -> None:
    """The agents exist before an import names them (their role is not rules-as-code), each in
    a bare role row of the file's name, which the import then fills in."""
    for username, role in agent_roles.items():
        an_agent(username, role=Role.objects.get_or_create(name=role)[0])


@BOUNDED
@given(case=configurations())
def test_a_generated_rule_set_round_trips_byte_identically(tmp_path, case):
    doc = case["document"]
    with transaction.atomic():
        make_agents(case["agent_roles"])
        # Any JSON layout of the content is accepted; sorted keys are not the export's order.
        import_text(tmp_path, json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=True))
        first = export()
        assert json.loads(first) == doc

        empty_configuration(keep_agents=True)
        import_text(tmp_path, first)
        assert export() == first

        before = history_rows(), rules_version()
        assert "Nothing to change" in import_text(tmp_path, first)
        assert (history_rows(), rules_version()) == before
        transaction.set_rollback(True)


@BOUNDED
@given(cases=two_configurations())
def test_importing_a_rule_set_over_another_makes_the_configuration_exactly_the_file(
    tmp_path, cases
):
    first, second = cases
    with transaction.atomic():
        make_agents(first["agent_roles"])
        import_text(tmp_path, json.dumps(first["document"]))

        import_text(tmp_path, json.dumps(second["document"]))

        assert json.loads(export()) == second["document"]
        transaction.set_rollback(True)


# -- the documented example ----------------------------------------------------------------------
def test_the_documented_example_is_an_export_and_imports(tmp_path):
    example = re.search(r"```json\n(.*?)```", DOC.read_text(), re.S).group(1)
    an_agent("alice", role=a_role("blended"))

    import_text(tmp_path, example)

    assert export() == example


# -- checked first, every problem named, nothing written ----------------------------------------
@pytest.fixture
def configured():
    """A small configuration: global codes, a role with rules and an agent with an override."""
    reason_codes("break", "lunch")
    role = a_role("support", visible=["chat", "email"], rules={"channel_cap": {"chat": 2}})
    alice = an_agent("alice", role=role, rules={"total_cap": 3})
    set_rules({"offer_timeout_seconds": 20})
    WorkbinFactory(name="follow-up")
    return alice


def test_a_file_with_several_problems_writes_nothing_and_names_each(tmp_path, configured):
    doc = json.loads(export())
    support = doc["roles"]["support"]
    support["rules"]["channel_cap"]["voice"] = -1
    support["rules"]["channel_cap"]["fax"] = 1
    support["rules"]["total_cap"] = "three"
    support["rules"]["after_done_reason"] = {"chat": "coffee"}
    support["label"] = "Support (changed: but nothing is written)"
    doc["roles"]["new"] = a_role_doc("New", visible=["voice"], codes={"login": "Log in"})
    doc["agents"]["ghost"] = {"rules": {"total_cap": 1}}
    doc["agents"]["alice"]["rules"]["pending_enabld"] = True
    doc["workbins"]["misc"] = {"label": "Misc", "channels": ["voice"]}
    doc["global"]["colour"] = "blue"
    before = state()

    error = refused(tmp_path, json.dumps(doc))

    assert error.returncode == 1
    message = str(error)
    for where, what in [
        ("roles[support].rules.channel_cap.voice", "A cap cannot be negative."),
        ("roles[support].rules.channel_cap.fax", "unknown channel"),
        ("roles[support].rules.total_cap", "A cap is a whole number"),
        ("roles[support].rules.after_done_reason.chat", "'coffee' is not a reason code"),
        ("roles[new].reason_codes[login]", "'login' is a system reason"),
        ("agents[ghost]", "no agent has this username"),
        ("agents[alice].rules.pending_enabld", "did you mean 'pending_enabled'?"),
        ("workbins[misc].channels", "voice"),
        ("global.colour", "unknown key"),
    ]:
        assert f"  {where}: " in message, where
        line = next(x for x in message.splitlines() if x.startswith(f"  {where}: "))
        assert what in line
    assert "9 problem(s); nothing was written" in message
    assert state() == before


def test_a_name_given_twice_is_a_problem_not_the_last_one_wins(tmp_path, configured):
    text = export().replace(
        '"support": {',
        '"support": {"label": "x", "visible_channels": null, '
        '"reason_codes": {}, "rules": {}}, "support": {',
        1,
    )
    before = state()

    error = refused(tmp_path, text)

    assert "roles[support]: appears more than once" in str(error)
    assert state() == before


def test_a_rule_or_channel_given_twice_is_named_where_it_is(tmp_path, configured):
    text = export().replace('"channel_cap": {"chat": 2}', '"channel_cap": {"chat": 2, "chat": 3}')
    text = text.replace('"total_cap": 3', '"total_cap": 3, "total_cap": 4')

    message = str(refused(tmp_path, text))

    assert "roles[support].rules.channel_cap.chat: appears more than once" in message
    assert "agents[alice].rules.total_cap: appears more than once" in message


def test_a_role_that_agents_have_cannot_be_left_out(tmp_path, configured):
    an_agent("bob", role=configured.role)
    doc = json.loads(export())
    del doc["roles"]["support"]
    doc["agents"] = {}

    error = refused(tmp_path, json.dumps(doc))

    assert "roles[support]: not in the file, but agents have this role: alice, bob" in str(error)
    assert Role.objects.filter(name="support").exists()


def test_a_role_nobody_has_is_deleted_with_its_rules_and_codes(tmp_path, configured):
    a_role("spare", visible=["voice"], rules={"total_cap": 1})
    reason_codes("away", role=Role.objects.get(name="spare"))
    without = export()
    doc = json.loads(without)
    del doc["roles"]["spare"]

    out = import_text(tmp_path, json.dumps(doc), name="no-spare.json")

    assert "delete role spare" in out
    assert "delete rule total_cap @ role spare: was 1" in out
    assert "delete reason code away (spare)" in out
    assert not Role.objects.filter(name="spare").exists()
    deleted = Role.history.filter(name="spare", history_type="-").get()
    assert deleted.history_change_reason == f"import_rules {tmp_path / 'no-spare.json'}"


def test_a_workbin_work_was_moved_to_cannot_be_left_out(tmp_path, configured):
    InteractionFactory(
        agent=configured, channel_id="email", state="ended", workbin=Workbin.objects.get()
    )
    doc = json.loads(export())
    doc["workbins"] = {}

    error = refused(tmp_path, json.dumps(doc))

    assert "workbins[follow-up]: not in the file, but 1 interaction(s)" in str(error)


def test_a_rule_may_name_a_reason_code_the_same_file_creates(tmp_path, configured):
    doc = json.loads(export())
    doc["roles"]["support"]["reason_codes"] = {"callback": "Calling back"}
    doc["roles"]["support"]["rules"]["after_done"] = {"chat": "not_ready"}
    doc["roles"]["support"]["rules"]["after_done_reason"] = {"chat": "callback"}
    # the role's own codes replace the global ones for it: "break" is no longer one of its codes
    doc["agents"]["alice"]["rules"]["after_done_reason"] = {"email": "break"}

    error = refused(tmp_path, json.dumps(doc))
    assert str(error).count("problem") == 1
    assert "agents[alice].rules.after_done_reason.email: 'break' is not a reason code" in str(error)

    doc["agents"]["alice"]["rules"]["after_done_reason"] = {"email": "callback"}
    import_text(tmp_path, json.dumps(doc))
    assert json.loads(export()) == {**doc, "about": ABOUT}


def test_not_json_and_unreadable_files_have_their_own_exit_codes(tmp_path, configured):
    error = refused(tmp_path, '{"format": "cc-rules-config",\n  "version": 1,,}')
    assert error.returncode == 1
    assert "line 2, column 16" in str(error)

    with pytest.raises(CommandError) as missing:
        import_file(tmp_path / "missing.json")
    assert missing.value.returncode == 2

    error = refused(tmp_path, json.dumps(document(version=2)))
    assert error.returncode == 1
    assert "version: this cc-rules reads version 1, not 2" in str(error)


# -- dry run, one transaction, only real changes ---------------------------------------------------
def changed_file(doc: dict[str, Any]) -> str:
    doc["roles"]["support"]["rules"]["channel_cap"]["chat"] = 4
    doc["roles"]["support"]["rules"]["mark_done_required"] = {"email": True}
    doc["roles"]["desk"] = a_role_doc("Front desk", visible=["voice"], rules={"total_cap": 1})
    del doc["agents"]["alice"]
    doc["global"]["visible_channels"] = ["im"]
    return json.dumps(doc)


def test_a_dry_run_lists_the_changes_and_writes_nothing(tmp_path, configured):
    text = changed_file(json.loads(export()))
    before = state()

    out = import_text(tmp_path, text, "--dry-run")

    assert state() == before
    assert out.splitlines() == [
        "  change global visible channels: none → im",
        '  create role desk: label "Front desk", visible channels: voice',
        "  delete rule total_cap @ agent alice: was 3",
        "  create rule total_cap @ role desk: 1",
        "  change rule channel_cap[chat] @ role support: 2 → 4",
        "  create rule mark_done_required[email] @ role support: true",
        f"Dry run of {tmp_path / 'rules.json'}: 3 to create, 2 to change, 1 to delete; "
        "nothing was written.",
    ]


def test_an_import_writes_each_change_once_with_its_reason(tmp_path, configured):
    text = changed_file(json.loads(export()))
    rules_before = Rule.history.count()

    out = import_text(tmp_path, text)

    assert "3 created, 2 changed, 1 deleted" in out
    assert Rule.history.count() == rules_before + 4  # two created, one changed, one deleted
    reason = f"import_rules {tmp_path / 'rules.json'}"
    latest = Rule.history.order_by("-history_id")[:4]
    assert {h.history_change_reason for h in latest} == {reason}
    assert Channel.objects.get(code="im").visible_by_default
    assert json.loads(export())["roles"]["desk"]["rules"] == {"total_cap": 1}


def test_importing_the_same_file_again_writes_no_history(tmp_path, configured):
    text = changed_file(json.loads(export()))
    import_text(tmp_path, text)
    before = state()

    out = import_text(tmp_path, text)

    assert out.startswith("Nothing to change")
    assert state() == before


def _refuse_rule_key_in_the_database(key: str) -> None:
    """A constraint the file check knows nothing of, added inside the test's transaction (and
    rolled back with it): the database refuses the import half-way through."""
    table = Rule._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses while the test's rows have deferred foreign-key checks pending
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT test_refuses_key CHECK (key <> '{key}')"
            )
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            cursor.execute(
                f"CREATE TRIGGER test_refuses_key BEFORE INSERT ON {table} "
                f"WHEN NEW.key = '{key}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )


def test_an_import_the_database_refuses_half_way_rolls_everything_back(tmp_path, configured):
    text = changed_file(json.loads(export()))
    _refuse_rule_key_in_the_database("mark_done_required")  # the last rule the plan writes
    before = state()

    with pytest.raises(CommandError) as exc:
        import_text(tmp_path, text)

    assert exc.value.returncode == 3
    assert "create rule mark_done_required[email] @ role support" in str(exc.value)
    assert state() == before
    assert not Role.objects.filter(name="desk").exists()  # created before the failing write
    assert not Channel.objects.get(code="im").visible_by_default


# -- export --------------------------------------------------------------------------------------
def test_export_writes_the_file_given(tmp_path, configured):
    path = tmp_path / "out" / "rules.json"
    path.parent.mkdir()

    call_command("export_rules", "-o", str(path), verbosity=0)

    assert path.read_text(encoding="utf-8") == export()
    assert list(path.parent.iterdir()) == [path]


def test_export_orders_everything_and_writes_notes_by_rule(configured):
    Rule.objects.filter(key="total_cap").update(note="Pilot, until June")
    a_role("aa-first", visible=["voice", "chat"])

    doc = json.loads(export())

    assert list(doc) == ["format", "version", "about", "global", "roles", "agents", "workbins"]
    assert list(doc["roles"]) == ["aa-first", "support"]
    assert doc["roles"]["aa-first"]["visible_channels"] == ["chat", "voice"]
    assert doc["agents"]["alice"] == {
        "rules": {"total_cap": 3},
        "notes": {"total_cap": "Pilot, until June"},
    }


def test_export_refuses_a_stored_value_the_rulebook_refuses(configured):
    Rule.objects.filter(key="total_cap").update(value=-5)  # past every check, as a raw UPDATE

    with pytest.raises(CommandError) as exc:
        export()

    assert exc.value.returncode == 1
    assert "total_cap @ agent alice holds -5" in str(exc.value)
