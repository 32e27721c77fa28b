"""`tocsin serve` runs the delivery worker in its lifespan: a test message sent through the
real server is delivered by the installed recorder plugin."""

from __future__ import annotations

import time

import httpx

from tests.fixtures_server import start_server, stop_server


def test_serve_delivers_a_test_message(tmp_path, sends):
    server = start_server(tmp_path, extra_env={"TOCSIN_DELIVERY_POLL_SECONDS": "0.2"})
    try:
        headers = {"authorization": f"Bearer {server.admin_token}"}

        def gql(query: str, variables: dict | None = None) -> dict:
            body = httpx.post(server.graphql, json={"query": query, "variables": variables or {}},
                              headers=headers, timeout=10).json()
            assert not body.get("errors"), body
            return body["data"]

        channel = gql("""mutation($path: JSON!) { createNotificationChannel(input: {
            name: "ops", plugin: "recorder", config: {path: "x"}}) { id } }""".replace(
            '{path: "x"}', "$path"), {"path": {"path": str(sends.path), "token": "tk"}})
        channel_id = channel["createNotificationChannel"]["id"]
        gql('mutation($id: ID!) { testNotificationChannel(id: $id, recipient: "ok@example.org")'
            " { id } }", {"id": channel_id})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not sends.all():
            time.sleep(0.1)
        [sent] = sends.all()
        assert sent["recipient"] == "ok@example.org" and sent["token"] == "tk"
        deadline = time.monotonic() + 5
        status = None
        while time.monotonic() < deadline and status != "DELIVERED":
            status = gql("{ deliveries { edges { node { status } } } }"
                         )["deliveries"]["edges"][0]["node"]["status"]
            time.sleep(0.05)
        assert status == "DELIVERED"
    finally:
        stop_server(server)
