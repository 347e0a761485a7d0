"""The OpenAPI schema works for client generators first try (issue 14, item 7): camelCase
operation ids, tags by area, named enums and bodies, idempotency headers only where a replay can
happen, Markdown descriptions, Token and Bearer, and a committed snapshot
(``docs/openapi.json``) that a breaking change cannot silently diverge from."""

from __future__ import annotations

import copy
import json
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from cc_rules.api import schema_compat as compat
from cc_rules.api.schema import NAMED_ENUMS, AutoSchema, operation_id_for, tags_for
from cc_rules.api.serializers import REASON_CODES
from cc_rules.engine import reasons

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def live():
    schema, problems = compat.live_schema()
    assert not problems, "the schema generates with warnings:\n" + "\n".join(problems)
    return schema


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


# -- operation ids and tags ------------------------------------------------------------------------
def test_operation_ids_are_unique_camel_case_verbs(live):
    ids = [op["operationId"] for _, _, op in operations(live)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    bad = [i for i in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i)]
    assert not bad
    assert not [i for i in ids if i.startswith("v1") or "_" in i]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("post", "/api/v1/interactions/{id}/accept/", "acceptInteraction"),
        ("put", "/api/v1/me/channels/{channel}/status/", "setChannelStatus"),
        ("get", "/api/v1/audit/status-changes/", "listStatusChanges"),
        ("post", "/api/v1/interactions/", "createInteraction"),
        ("get", "/api/v1/interactions/{id}/", "getInteraction"),
        ("post", "/api/v1/interactions/{id}/done/", "markInteractionDone"),
        ("get", "/api/v1/interactions/{id}/messages/", "listInteractionMessages"),
        ("put", "/api/v1/agents/{username}/channels/{channel}/status/", "setAgentChannelStatus"),
        ("post", "/api/v1/me/login/", "login"),
        ("get", "/api/v1/me/", "getMe"),
        ("post", "/api/v1/decisions/offer/", "decideOffer"),  # overridden on the view
        ("post", "/api/v1/im/", "sendIm"),  # overridden on the view
    ],
)
def test_the_operation_ids_clients_call(live, method, path, expected):
    assert live["paths"][path][method]["operationId"] == expected


@pytest.mark.parametrize(
    ("method", "path", "is_list", "expected"),
    [  # paths other changes add get sensible ids without decorating their views
        ("post", "/api/v1/im/inbox/ack/", False, "ackImInbox"),
        ("get", "/api/v1/auth/tokens/", True, "listTokens"),
        ("delete", "/api/v1/auth/tokens/{id}/", False, "deleteToken"),  # OPERATION_IDS: revoke…
        ("post", "/api/v1/audit/verify/jobs/", False, "createVerifyJob"),
        ("get", "/api/v1/audit/jobs/{id}/", False, "getJob"),
        ("get", "/api/v1/audit/jobs/{id}/download/", False, "downloadJob"),
        ("post", "/api/v1/me/heartbeat/", False, "sendHeartbeat"),
        ("get", "/api/v1/audit/verify/", False, "verifyAudit"),
    ],
)
def test_operation_ids_are_derived_from_path_and_method(method, path, is_list, expected):
    assert operation_id_for(path, method, is_list) == expected


def test_central_overrides_name_colliding_ids():
    schema = AutoSchema()
    schema.path, schema.method = "/api/v1/auth/token/", "DELETE"
    assert schema.get_operation_id() == "revokeCurrentToken"


def test_tags_are_the_api_areas_declared_in_settings(live):
    declared = [t["name"] for t in settings.SPECTACULAR_SETTINGS["TAGS"]]
    for path, method, op in operations(live):
        assert len(op["tags"]) == 1, (method, path)
        assert op["tags"][0] in declared, (method, path, op["tags"])
    assert tags_for("/api/v1/interactions/{id}/messages/") == ["messages"]
    assert tags_for("/api/v1/audit/jobs/{id}/") == ["audit"]
    assert "v1" not in {t for _, _, op in operations(live) for t in op["tags"]}


# -- named enums and bodies ---------------------------------------------------------------------
def test_choice_sets_are_named_enum_components(live):
    schemas = live["components"]["schemas"]
    for name, values in NAMED_ENUMS.items():
        assert schemas[name]["enum"] == list(values), name
    props = {name: s.get("properties", {}) for name, s in schemas.items()}
    ref = "#/components/schemas/"
    assert props["Interaction"]["state"] == {"$ref": ref + "InteractionStateEnum"}
    assert props["Interaction"]["channel"] == {"$ref": ref + "ChannelEnum"}
    assert props["ChannelState"]["status"] == {"$ref": ref + "StatusEnum"}
    assert props["StatusRequest"]["status"] == {"$ref": ref + "RequestableStatusEnum"}
    assert props["Decision"]["code"] == {"$ref": ref + "ReasonCodeEnum"}
    assert props["StatusChange"]["cause"] == {"$ref": ref + "CauseEnum"}
    assert props["StatusChange"]["event"] == {"$ref": ref + "EventEnum"}
    # every code the engine can answer, and a description for each refusal
    assert set(REASON_CODES) >= {reasons.ALLOWED, *reasons.DESCRIPTIONS}
    assert "`dnd_active` - do-not-disturb is on (R3)" in schemas["ReasonCodeEnum"]["description"]
    # one component per set of values, whichever field it came from
    value_sets = [frozenset(s["enum"]) - {None, ""} for s in schemas.values() if s.get("enum")]
    value_sets = [v for v in value_sets if v]
    assert len(value_sets) == len(set(value_sets))
    # query parameters use them too
    state = next(
        p
        for p in live["paths"]["/api/v1/interactions/"]["get"]["parameters"]
        if p["name"] == "state"
    )
    assert state["schema"]["items"] == {"$ref": ref + "InteractionStateEnum"}


def test_bodies_are_named_components(live):
    names = live["components"]["schemas"]
    assert not [n for n in names if n.startswith("Inline") or n.endswith("RequestRequest")]
    assert not [n for n in names if re.search(r"[0-9A-F][0-9a-f]{2}Enum$", n)]  # collision names
    for path, method, op in operations(live):
        bodies = [c["schema"] for c in op.get("requestBody", {}).get("content", {}).values()]
        for code, response in op["responses"].items():
            if code.startswith("2"):
                bodies += [c["schema"] for c in response.get("content", {}).values()]
        for body in bodies:
            if body.get("type") == "array":
                body = body["items"]
            assert "$ref" in body or body.get("type") == "string", (method, path, body)


# -- idempotency headers ---------------------------------------------------------------------------
def test_replayed_header_only_where_a_replay_can_happen(live):
    keyed = 0
    for path, method, op in operations(live):
        takes_key = any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
        assert takes_key == (method in ("post", "put") and path != "/api/v1/auth/token/"), path
        keyed += takes_key
        for code, response in op["responses"].items():
            replayed = "Idempotent-Replayed" in response.get("headers", {})
            may_replay = takes_key and code[0] in "24" and code not in ("401", "422", "429")
            assert replayed == may_replay, (method, path, code)
    assert keyed > 10


# -- descriptions and auth -------------------------------------------------------------------------
def test_descriptions_are_markdown_not_rest(live):
    text = json.dumps(live)
    assert "``" not in text
    assert not re.search(r":(?:func|class|meth|mod|attr|ref):`", text)


def test_token_and_bearer_are_both_documented(live):
    schemes = live["components"]["securitySchemes"]
    assert schemes["tokenAuth"]["type"] == "apiKey"
    assert schemes["tokenAuth"]["name"] == "Authorization"
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    me = live["paths"]["/api/v1/me/"]["get"]["security"]
    assert {"tokenAuth": []} in me
    assert {"bearerAuth": []} in me  # either one, not both together


def test_version_is_the_projects(live):
    import tomllib

    pyproject = tomllib.loads((settings.BASE_DIR / "pyproject.toml").read_text())
    assert live["info"]["version"] == pyproject["project"]["version"]


# -- the snapshot ----------------------------------------------------------------------------------
def test_the_committed_snapshot_is_current(live):
    assert compat.SNAPSHOT.exists(), "no docs/openapi.json: python3 manage.py openapi_snapshot"
    old = json.loads(compat.SNAPSHOT.read_text())
    breaking = compat.breaking_changes(old, live)
    assert not breaking or compat.version_bumped(old, live), (
        "Breaking API change without a version bump (bump [project] version in pyproject.toml "
        "or revert):\n" + "\n".join(breaking)
    )
    assert old == live, (
        "docs/openapi.json is out of date; refresh it with: python3 manage.py openapi_snapshot\n"
        + "\n".join(compat.additive_changes(old, live))
    )


def test_snapshot_command_refuses_a_breaking_change_without_a_bump(live, tmp_path, monkeypatch):
    old = copy.deepcopy(live)
    old["paths"]["/api/v1/gone/"] = {"get": {"operationId": "getGone", "responses": {}}}
    snapshot = tmp_path / "openapi.json"
    snapshot.write_text(json.dumps(old))
    monkeypatch.setattr(compat, "SNAPSHOT", snapshot)
    with pytest.raises(CommandError, match="breaks clients"):
        call_command("openapi_snapshot")
    assert json.loads(snapshot.read_text()) == old
    call_command("openapi_snapshot", "--allow-breaking")  # a snapshot no client has used yet
    assert json.loads(snapshot.read_text()) == live
    snapshot.write_text(json.dumps(old))
    old["info"]["version"] = "0.0.1"  # the live schema's version is now a bump
    snapshot.write_text(json.dumps(old))
    with pytest.raises(CommandError, match="out of date"):
        call_command("openapi_snapshot", "--check")
    call_command("openapi_snapshot")
    assert json.loads(snapshot.read_text()) == live


def _edited(schema, edit):
    new = copy.deepcopy(schema)
    edit(new)
    return new


def _schemas(s):
    return s["components"]["schemas"]


BREAKING = {
    "path removed": lambda s: s["paths"].pop("/api/v1/me/dnd/"),
    "operation removed": lambda s: s["paths"]["/api/v1/interactions/"].pop("post"),
    "operation id changed": lambda s: s["paths"]["/api/v1/me/"]["get"].update(operationId="me"),
    "request field removed": lambda s: _schemas(s)["EndRequest"]["properties"].pop("workbin"),
    "request field newly required": lambda s: _schemas(s)["EndRequest"]["required"].append(
        "workbin"
    ),
    "new required request field": lambda s: (
        _schemas(s)["AssistRequest"]["properties"].update(note={"type": "string"}),
        _schemas(s)["AssistRequest"]["required"].append("note"),
    ),
    "response field removed": lambda s: _schemas(s)["Interaction"]["properties"].pop("kind"),
    "response field type changed": lambda s: _schemas(s)["Interaction"]["properties"].update(
        id={"type": "string"}
    ),
    "response field newly nullable": lambda s: _schemas(s)["Interaction"]["properties"][
        "agent"
    ].update(nullable=True),
    "enum value removed": lambda s: _schemas(s)["ChannelEnum"]["enum"].remove("cobrowse"),
    "query parameter newly required": lambda s: next(
        p for p in s["paths"]["/api/v1/contacts/"]["get"]["parameters"] if p["name"] == "cursor"
    ).update(required=True),
    "success response removed": lambda s: s["paths"]["/api/v1/me/"]["get"]["responses"].pop("200"),
    "component renamed": lambda s: _schemas(s).update(Capacity2=_schemas(s).pop("Capacity")),
}
ADDITIVE = {
    "path added": lambda s: s["paths"].update(
        {"/api/v1/new/": {"get": {"operationId": "getNew", "responses": {}}}}
    ),
    "optional request field added": lambda s: _schemas(s)["EndRequest"]["properties"].update(
        note={"type": "string"}
    ),
    "response field added": lambda s: _schemas(s)["Interaction"]["properties"].update(
        note={"type": "string"}
    ),
    "request enum value added": lambda s: _schemas(s)["EndHowEnum"]["enum"].append("fax"),
    "description changed": lambda s: s["info"].update(description="new words"),
}


@pytest.mark.parametrize("edit", list(BREAKING))
def test_breaking_changes_are_found(live, edit):
    assert compat.breaking_changes(live, _edited(live, BREAKING[edit]))


@pytest.mark.parametrize("edit", list(ADDITIVE))
def test_additive_changes_are_not_breaking(live, edit):
    assert compat.breaking_changes(live, _edited(live, ADDITIVE[edit])) == []


def test_a_version_bump_is_a_greater_version():
    def schema(version):
        return {"info": {"version": version}}

    assert compat.version_bumped(schema("0.1.0"), schema("0.2.0"))
    assert compat.version_bumped(schema("0.9.0"), schema("0.10.0"))
    assert not compat.version_bumped(schema("0.1.0"), schema("0.1.0"))
    assert not compat.version_bumped(schema("1.0.0"), schema("0.9.9"))


def test_web_processes_resolve_the_schema_extensions_before_serving():
    """drf-spectacular resolves extension targets lazily and not thread-safely; the WSGI entry
    point resolves them all once at start (``schema.resolve_schema_extensions``)."""
    from drf_spectacular.plumbing import OpenApiGeneratorExtension

    import cc_rules.wsgi  # noqa: F401

    registered = [e for b in OpenApiGeneratorExtension.__subclasses__() for e in b._registry]
    assert registered
    assert not [e for e in registered if isinstance(e.target_class, str)]
