"""Service changes reach live clients, against a real `tocsin serve` on SQLite and on
PostgreSQL: the public `statusPage` subscription shows a new public service and a rename
without any incident changing, never shows anything of a private service, and the `events`
subscription carries service.created / service.updated to a VIEWER."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.fixtures_server import RunningServer, start_server, stop_server
from tests.live.conftest import following, mutate

STATUS_PAGE = "subscription { statusPage { services { name status } incidents { title } } }"
CREATE = """mutation($input: CreateServiceInput!) { createService(input: $input) { id } }"""
UPDATE = """mutation($id: ID!, $input: UpdateServiceInput!) {
  updateService(id: $id, input: $input) { id } }"""


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RunningServer]:
    url = None
    if request.param == "postgres":
        assert POSTGRES_URL
        url = asyncio.run(create_postgres_database(POSTGRES_URL))
    running = start_server(tmp_path_factory.mktemp(f"service-events-{request.param}"), url)
    yield running
    stop_server(running)
    if url is not None:
        asyncio.run(drop_postgres_database(POSTGRES_URL or "", url))


async def create_service(server: RunningServer, name: str, public: bool = True,
                         description: str | None = None) -> str:
    data = await mutate(server, CREATE, {"input": {"name": name, "public": public,
                                                   "description": description}})
    return str(data["createService"]["id"])


async def update_service(server: RunningServer, service_id: str, **changes: Any) -> None:
    await mutate(server, UPDATE, {"id": service_id, "input": changes})


async def next_page(frames: asyncio.Queue[dict[str, Any]]) -> dict[str, Any]:
    return (await asyncio.wait_for(frames.get(), 10))["statusPage"]  # type: ignore[no-any-return]


def names(page: dict[str, Any]) -> list[str]:
    return [s["name"] for s in page["services"]]


async def test_status_page_shows_a_new_public_service_and_its_rename_live(
        server: RunningServer):
    async with following(server, STATUS_PAGE, token=None) as frames:
        first = await next_page(frames)
        assert "Search" not in names(first)
        search = await create_service(server, "Search")
        created = await next_page(frames)
        assert {"name": "Search", "status": "OPERATIONAL"} in created["services"]
        assert created["incidents"] == first["incidents"]  # no incident had to change
        await update_service(server, search, name="Site search")
        renamed = await next_page(frames)
        assert "Site search" in names(renamed) and "Search" not in names(renamed)
        # A change the page does not show (the description) sends no frame: the next one
        # is the next visible change.
        await update_service(server, search, description="Full-text search")
        await update_service(server, search, public=False)
        hidden = await next_page(frames)
        assert "Site search" not in names(hidden)
        assert names(hidden) == [n for n in names(renamed) if n != "Site search"]


async def test_a_private_service_never_shows_on_the_public_page(server: RunningServer):
    async with following(server, STATUS_PAGE, token=None) as frames:
        first = await next_page(frames)
        billing = await create_service(server, "Billing internal", public=False,
                                       description="ledger on db07")
        await update_service(server, billing, name="Billing ledger")
        await update_service(server, billing, description="ledger on db08")
        # The next frame is the one a public change causes: none came for the private ones.
        await create_service(server, "Mail")
        marker = await next_page(frames)
        assert set(names(marker)) == {*names(first), "Mail"}
        # Made public, it shows under its current name; made private again, it goes.
        await update_service(server, billing, public=True)
        shown = await next_page(frames)
        assert "Billing ledger" in names(shown)
        await update_service(server, billing, public=False)
        gone = await next_page(frames)
        assert set(names(gone)) == set(names(marker))
        # Private again, its rename is not shown either.
        await update_service(server, billing, name="Billing ledger v2")
        await create_service(server, "Status marker")
        last = await next_page(frames)
        assert set(names(last)) == {*names(marker), "Status marker"}
        pages = [first, marker, shown, gone, last]
    for secret in ("Billing internal", "Billing ledger v2", "db07", "db08"):
        assert secret not in str(pages), secret
    # Nor on what a reader without a token fetches.
    async with httpx.AsyncClient(timeout=10) as http:
        query = await http.post(server.graphql, json={
            "query": "{ statusPage { services { name } incidents { title } } }"})
        html = await http.get(server.url + "/status")
    for body in (query.text, html.text):
        assert "Billing" not in body and "db07" not in body and "db08" not in body


async def test_a_viewer_follows_service_events(server: RunningServer):
    viewer = (await mutate(server, """mutation { createApiToken(name: "wallboard",
        role: VIEWER) { token } }"""))["createApiToken"]["token"]
    query = """subscription { events(types: ["service.created", "service.updated"]) {
      sequence type actor { name } incident { reference } service { name public } } }"""
    async with following(server, query, token=viewer) as frames:
        inventory = await create_service(server, "Inventory")
        created = (await asyncio.wait_for(frames.get(), 10))["events"]
        await update_service(server, inventory, name="Stock", public=False)
        updated = (await asyncio.wait_for(frames.get(), 10))["events"]
    assert {k: v for k, v in created.items() if k != "sequence"} == {
        "type": "service.created", "actor": {"name": "admin"}, "incident": None,
        "service": {"name": "Inventory", "public": True}}
    assert {k: v for k, v in updated.items() if k != "sequence"} == {
        "type": "service.updated", "actor": {"name": "admin"}, "incident": None,
        "service": {"name": "Stock", "public": False}}
    # A subscriber that reconnects gets it replayed from the log (the service as it is now).
    replay = """subscription($after: String) { events(after: $after,
      types: ["service.created"]) { sequence type service { name } } }"""
    after = str(int(created["sequence"]) - 1)
    async with following(server, replay, {"after": after}, token=viewer) as frames:
        replayed = (await asyncio.wait_for(frames.get(), 10))["events"]
    assert replayed == {"sequence": created["sequence"], "type": "service.created",
                        "service": {"name": "Stock"}}
