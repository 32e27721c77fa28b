"""Notifications through GraphQL, as a manager's client sees them."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from app.notifications.dispatcher import Dispatcher
from app.notifications.models import NotificationChannel

CREATE_CHANNEL = """mutation($input: CreateNotificationChannelInput!) {
  createNotificationChannel(input: $input) { id name plugin config enabled } }"""
CREATE_RULE = """mutation($input: CreateNotificationRuleInput!) {
  createNotificationRule(input: $input) {
    id name eventTypes minPriority recipients enabled services { name } channel { name } } }"""
DELIVERIES = """query($filter: DeliveryFilter, $first: Int, $after: String) {
  deliveries(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id recipient status attempts lastError providerReference
      channel { name } event { type incident { reference } } } } } }"""


async def _channel(api, sends, **config):
    made = await api(CREATE_CHANNEL, {"input": {
        "name": "ops", "plugin": "recorder",
        "config": {"path": str(sends.path), "token": "s3cret-token", **config}}},
        role=Role.MANAGER)
    return made.ok()["createNotificationChannel"]


async def test_plugins_are_listed_with_their_state(api):
    data = (await api("{ notifierPlugins { name distribution version loaded error "
                      "configSchema } }", role=Role.MANAGER)).ok()
    plugins = {p["name"]: p for p in data["notifierPlugins"]}
    recorder = plugins["recorder"]
    assert recorder["loaded"] and recorder["distribution"] == "tocsin-test-notifier"
    assert recorder["version"] == "1.2.0"
    assert set(recorder["configSchema"]["properties"]) >= {"path", "token"}
    assert recorder["configSchema"]["required"] == ["path"]
    assert not plugins["broken"]["loaded"]
    assert "tocsin_dependency_that_was_never_installed" in plugins["broken"]["error"]
    assert plugins["broken"]["configSchema"] is None
    assert "API version 0" in plugins["legacy"]["error"]


async def test_secrets_are_encrypted_at_rest_and_masked(api, sends):
    channel = await _channel(api, sends)
    assert channel["config"]["token"] == "********"
    assert channel["config"]["path"] == str(sends.path)
    stored = await NotificationChannel.get(name="ops")
    assert "s3cret-token" not in str(stored.config)
    assert set(stored.config["token"]) == {"$encrypted"}
    listed = (await api("{ notificationChannels { name config } }", role=Role.ADMIN)).ok()
    assert listed["notificationChannels"][0]["config"]["token"] == "********"


async def test_bad_config_is_refused_naming_the_field(api, sends):
    made = await api(CREATE_CHANNEL, {"input": {"name": "x", "plugin": "recorder",
                                                "config": {"path": 12}}}, role=Role.MANAGER)
    assert made.codes == ["BAD_USER_INPUT"]
    assert made.errors[0]["extensions"]["field"] == "config.path"
    typo = await api(CREATE_CHANNEL, {"input": {"name": "x", "plugin": "recorder",
                                                "config": {"path": "/tmp/x", "tokn": "a"}}})
    assert typo.errors[0]["extensions"]["field"] == "config.tokn"
    broken = await api(CREATE_CHANNEL, {"input": {"name": "x", "plugin": "broken",
                                                  "config": {}}})
    assert broken.codes == ["BAD_USER_INPUT"] and "not loaded" in broken.errors[0]["message"]
    assert (await api("{ notificationChannels { id } }")).ok()["notificationChannels"] == []


async def test_update_replaces_given_keys_and_keeps_masked_secrets(api, sends, tmp_path):
    channel = await _channel(api, sends)
    update = """mutation($id: ID!, $input: UpdateNotificationChannelInput!) {
      updateNotificationChannel(id: $id, input: $input) { config enabled } }"""
    new_path = str(tmp_path / "other.jsonl")
    # The client echoes the masked config back with one key changed.
    done = await api(update, {"id": channel["id"], "input": {
        "config": {**channel["config"], "path": new_path}, "enabled": False}})
    assert done.ok()["updateNotificationChannel"] == {
        "config": {"path": new_path, "token": "********", "delay": 0.0, "retry_after": None},
        "enabled": False}
    from app.notifications import channels as configs

    assert configs.opened(await NotificationChannel.get(name="ops"))["token"] == "s3cret-token"
    bad = await api(update, {"id": channel["id"], "input": {"config": {"delay": "soon"}}})
    assert bad.errors[0]["extensions"]["field"] == "config.delay"


async def test_rules_validate_recipients_templates_and_services(api, sends):
    channel = await _channel(api, sends)
    svc = (await api('mutation { createService(input: {name: "Checkout"}) { id } }')
           ).ok()["createService"]
    base = {"name": "page", "channelId": channel["id"], "eventTypes": ["incident.created"],
            "recipients": ["ops@Example.ORG"], "minPriority": "P2", "serviceIds": [svc["id"]]}
    made = (await api(CREATE_RULE, {"input": base})).ok()["createNotificationRule"]
    assert made["recipients"] == ["ops@example.org"]  # canonical form from the plugin
    assert made["services"] == [{"name": "Checkout"}] and made["minPriority"] == "P2"
    bad_recipient = await api(CREATE_RULE, {"input": {**base, "name": "x",
                                                      "recipients": ["not-an-address"]}})
    assert bad_recipient.errors[0]["extensions"] == {"code": "BAD_USER_INPUT",
                                                     "field": "recipients"}
    none = await api(CREATE_RULE, {"input": {**base, "name": "x", "recipients": []}})
    assert none.errors[0]["extensions"]["field"] == "recipients"
    broken = await api(CREATE_RULE, {"input": {**base, "name": "x",
                                               "subjectTemplate": "{{ incident.title "}})
    assert broken.errors[0]["extensions"]["field"] == "subjectTemplate"
    escape = await api(CREATE_RULE, {"input": {
        **base, "name": "x",
        "bodyTemplate": "{{ incident.__class__.__mro__[1].__subclasses__() }}"}})
    assert escape.errors[0]["extensions"]["field"] == "bodyTemplate"
    rules = (await api("{ notificationRules { name } }")).ok()["notificationRules"]
    assert rules == [{"name": "page"}]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
async def test_only_managers_and_admins_see_notifications(api, role):
    for query in ("{ notificationChannels { id } }", "{ notificationRules { id } }",
                  "{ deliveries { totalCount } }", "{ notifierPlugins { name } }"):
        assert (await api(query, role=role)).codes == ["FORBIDDEN"]
    made = await api(CREATE_CHANNEL, {"input": {"name": "x", "plugin": "recorder",
                                                "config": {"path": "/tmp/x"}}}, role=role)
    assert made.codes == ["FORBIDDEN"]


async def test_test_send_list_and_retry(api, sends, dispatcher: Dispatcher):
    channel = await _channel(api, sends)
    test = """mutation($id: ID!, $to: String) {
      testNotificationChannel(id: $id, recipient: $to) { id status recipient } }"""
    queued = (await api(test, {"id": channel["id"], "to": "ok@example.org"})).ok()
    assert queued["testNotificationChannel"]["status"] == "PENDING"
    failing = (await api(test, {"id": channel["id"], "to": "fail@example.org"})).ok()
    missing = await api(test, {"id": channel["id"]})
    assert missing.errors[0]["extensions"]["field"] == "recipient"
    await dispatcher.drain()
    page = (await api(DELIVERIES, {"first": 1})).ok()["deliveries"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"]
    assert page["edges"][0]["node"]["recipient"] == "fail@example.org"  # newest first
    rest = (await api(DELIVERIES, {"first": 5, "after": page["pageInfo"]["endCursor"]})
            ).ok()["deliveries"]
    assert [e["node"]["recipient"] for e in rest["edges"]] == ["ok@example.org"]
    dead = (await api(DELIVERIES, {"filter": {"status": ["DEAD"]}})).ok()["deliveries"]
    assert [e["node"]["lastError"] for e in dead["edges"]] == ["no such mailbox"]
    assert [s["subject"] for s in sends.all()] == ["Tocsin test message"] * 2
    retry = """mutation($id: ID!) { retryDelivery(id: $id) { status attempts } }"""
    assert (await api(retry, {"id": failing["testNotificationChannel"]["id"]})).ok() == {
        "retryDelivery": {"status": "PENDING", "attempts": 0}}
    again = await api(retry, {"id": queued["testNotificationChannel"]["id"]})
    assert again.codes == ["INVALID_TRANSITION"]
    await dispatcher.drain()
    assert len(sends.all()) == 3


async def test_delete_rule_and_channel(api, sends):
    channel = await _channel(api, sends)
    rule = (await api(CREATE_RULE, {"input": {
        "name": "r", "channelId": channel["id"], "eventTypes": ["incident.created"],
        "recipients": ["ok@example.org"]}})).ok()["createNotificationRule"]
    assert (await api("mutation($id: ID!) { deleteNotificationRule(id: $id) }",
                      {"id": rule["id"]})).ok()["deleteNotificationRule"] == rule["id"]
    assert (await api("mutation($id: ID!) { deleteNotificationChannel(id: $id) }",
                      {"id": channel["id"]})).ok()
    gone = await api("mutation($id: ID!) { deleteNotificationChannel(id: $id) }",
                     {"id": channel["id"]})
    assert gone.codes == ["NOT_FOUND"]


async def test_only_admins_route_access_events(api, sends):
    """Access events (token.revoked, user.*) are ADMIN-only in the event log; a MANAGER may
    not route them into deliveries it can read, by creating or by editing a rule."""
    channel = await _channel(api, sends)
    base = {"name": "security", "channelId": channel["id"],
            "eventTypes": ["incident.created", "token.revoked"],
            "recipients": ["sec@example.org"]}
    refused = await api(CREATE_RULE, {"input": base}, role=Role.MANAGER)
    assert refused.errors[0]["extensions"] == {"code": "FORBIDDEN", "field": "eventTypes"}
    assert "token.revoked" in refused.errors[0]["message"]
    assert (await api("{ notificationRules { name } }")).ok()["notificationRules"] == []
    plain = (await api(CREATE_RULE, {"input": {**base, "eventTypes": ["incident.created"]}},
                       role=Role.MANAGER)).ok()["createNotificationRule"]
    update = """mutation($id: ID!, $input: UpdateNotificationRuleInput!) {
      updateNotificationRule(id: $id, input: $input) { eventTypes } }"""
    edit = await api(update, {"id": plain["id"], "input": {
        "eventTypes": ["user.role_changed"]}}, role=Role.MANAGER)
    assert edit.codes == ["FORBIDDEN"]
    kept = (await api("{ notificationRules { eventTypes } }")).ok()["notificationRules"]
    assert kept == [{"eventTypes": ["incident.created"]}]
    admin = await api(update, {"id": plain["id"], "input": {
        "eventTypes": ["user.role_changed"]}}, role=Role.ADMIN)
    assert admin.ok()["updateNotificationRule"]["eventTypes"] == ["user.role_changed"]
