"""What the fault tests do to a real `tocsin serve`: GraphQL over HTTP as an admin (set up
channels and rules, cause incidents, read the deliveries back), and waiting for an outcome."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from app.graphql.ids import decode_id

CREATE_INCIDENT = """mutation($title: String!) { createIncident(input: {
    title: $title, impact: LOW, urgency: LOW}) { id } }"""
DELIVERIES = """query($after: String) { deliveries(first: 100, after: $after) {
    edges { node { id status attempts eventType recipient lastError } }
    pageInfo { hasNextPage endCursor } } }"""


@dataclass
class Admin:
    """An admin's GraphQL client for one server (the token works on every server that shares
    the database)."""

    url: str
    token: str

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(self.url + "/graphql",
                              json={"query": query, "variables": variables or {}},
                              headers={"authorization": f"Bearer {self.token}"}, timeout=30)
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]  # type: ignore[no-any-return]

    def create_channel(self, name: str, plugin: str, config: dict[str, Any]) -> str:
        data = self.gql("""mutation($name: String!, $plugin: String!, $config: JSON!) {
            createNotificationChannel(input: {name: $name, plugin: $plugin, config: $config})
            { id } }""", {"name": name, "plugin": plugin, "config": config})
        return str(data["createNotificationChannel"]["id"])

    def create_rule(self, channel_id: str, event_types: list[str],
                    recipients: list[str]) -> None:
        self.gql("""mutation($input: CreateNotificationRuleInput!) {
            createNotificationRule(input: $input) { id } }""", {"input": {
            "name": f"rule for {channel_id}", "channelId": channel_id,
            "eventTypes": event_types, "recipients": recipients}})

    def create_incident(self, title: str) -> str:
        return str(self.gql(CREATE_INCIDENT, {"title": title})["createIncident"]["id"])

    def deliveries(self) -> dict[int, dict[str, Any]]:
        """Every delivery by its database id (the plugins' idempotency key)."""
        found: dict[int, dict[str, Any]] = {}
        after = None
        while True:
            page = self.gql(DELIVERIES, {"after": after})["deliveries"]
            for edge in page["edges"]:
                node = edge["node"]
                found[decode_id(node["id"], "Delivery")] = node
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)
