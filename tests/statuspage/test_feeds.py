"""The JSON Feed (1.1) and Atom feeds of public updates, parsed as feed readers parse them."""

from __future__ import annotations

import json
from datetime import datetime

import feedparser

from app.auth.models import Role
from app.incidents import service
from app.incidents.models import Impact, Urgency


async def seed(users, clock):
    admin = users[Role.ADMIN][0]
    shop = await service.create_service(name="Shop", description=None, public=True,
                                        actor=admin, now=clock.now())
    hidden_service = await service.create_service(name="Payroll", description=None,
                                                  public=False, actor=admin, now=clock.now())
    public = await service.create_incident(service.NewIncident(
        title="LB edge-3 down", impact=Impact.HIGH, urgency=Urgency.HIGH, service_id=shop.id,
        public=True, public_title="Checkout unavailable"), actor=admin, now=clock.advance(60))
    await service.add_note(public.id, "We are investigating", public=True, actor=admin,
                           now=clock.advance(60))
    await service.add_note(public.id, "rebooting edge-3", public=False, actor=admin,
                           now=clock.advance(60))
    await service.add_note(public.id, "Fix deployed", public=True, actor=admin,
                           now=clock.advance(60))
    await service.resolve(public.id, "edge-3 config rolled back", actor=admin,
                          now=clock.advance(60))
    internal = await service.create_incident(service.NewIncident(
        title="db01 disk", impact=Impact.HIGH, urgency=Urgency.HIGH, service_id=shop.id),
        actor=admin, now=clock.advance(60))
    await service.add_note(internal.id, "db01 note", public=True, actor=admin,
                           now=clock.advance(60))
    elsewhere = await service.create_incident(service.NewIncident(
        title="payroll late", impact=Impact.LOW, urgency=Urgency.LOW,
        service_id=hidden_service.id, public=True), actor=admin, now=clock.advance(60))
    await service.add_note(elsewhere.id, "payroll note", public=True, actor=admin,
                           now=clock.advance(60))
    return public


SECRETS = ("edge-3", "db01", "payroll", "admin", "rolled back")


async def test_json_feed_lists_public_updates_newest_first(http, users, clock):
    incident = await seed(users, clock)
    response = await http.get("/status/feed.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/feed+json")
    feed = json.loads(response.text)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "Service status"
    assert feed["home_page_url"] == "http://tocsin.test/status"
    assert feed["feed_url"] == "http://tocsin.test/status/feed.json"
    items = feed["items"]
    assert [(i["content_text"], i["tags"]) for i in items] == [
        ("Resolved: this incident has been resolved.", ["resolved"]),
        ("Fix deployed", ["update"]),
        ("We are investigating", ["update"]),
        ("Investigating: we are looking into this.", ["opened"]),
    ]
    ref = incident.reference
    assert {i["title"] for i in items} == {f"{ref}: Checkout unavailable"}
    assert [i["id"] for i in items] == [
        f"http://tocsin.test/status#{ref}/resolved/1", f"http://tocsin.test/status#{ref}/update/2",
        f"http://tocsin.test/status#{ref}/update/1", f"http://tocsin.test/status#{ref}/opened/1"]
    assert items[1]["date_published"] == "2026-01-05T09:04:00Z"
    assert datetime.fromisoformat(items[0]["date_published"]) > datetime.fromisoformat(
        items[1]["date_published"])
    for secret in SECRETS:
        assert secret not in response.text, secret


async def test_atom_feed_parses_with_the_same_entries(http, users, clock):
    incident = await seed(users, clock)
    response = await http.get("/status/feed.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Service status"
    assert parsed.feed.link == "http://tocsin.test/status"
    assert parsed.feed.updated == "2026-01-05T09:05:00Z"
    entries = parsed.entries
    assert [e.content[0].value for e in entries] == [
        "Resolved: this incident has been resolved.", "Fix deployed", "We are investigating",
        "Investigating: we are looking into this."]
    assert entries[1].id == f"http://tocsin.test/status#{incident.reference}/update/2"
    assert entries[1].title == f"{incident.reference}: Checkout unavailable"
    assert entries[1].link == f"http://tocsin.test/status#{incident.reference}"
    for secret in SECRETS:
        assert secret not in response.text, secret


async def test_feeds_are_valid_when_empty(http, database):
    feed = json.loads((await http.get("/status/feed.json")).text)
    assert feed["items"] == []
    parsed = feedparser.parse((await http.get("/status/feed.atom")).content)
    assert not parsed.bozo and parsed.entries == []
