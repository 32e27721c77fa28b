"""The server-rendered /status page, read as a browser without JavaScript would: the banner,
every public service with its status and history, the public incidents with their public
updates, and nothing internal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup

from app.auth.models import Role
from app.config import Settings
from app.incidents import service
from app.incidents.models import Impact, IncidentStatus, Urgency


def parse(response) -> BeautifulSoup:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


def text(node) -> str:
    return " ".join(node.get_text(" ").split())


@pytest.fixture
async def seeded(users, clock):
    admin = users[Role.ADMIN][0]
    web = await service.create_service(name="Web shop", description="checkout", public=True,
                                       actor=admin, now=clock.now())
    await service.create_service(name="Search", description=None, public=True, actor=admin,
                                 now=clock.now())
    await service.create_service(name="Billing batch", description=None, public=False,
                                 actor=admin, now=clock.now())
    clock.advance(3600)
    return admin, web


async def test_all_operational_without_incidents(http, seeded):
    page = parse(await http.get("/status"))
    assert text(page.select_one("#banner h2")) == "All systems operational"
    assert page.select_one("#banner")["data-status"] == "OPERATIONAL"
    services = {text(li.select_one(".service-name")): text(li.select_one(".service-status"))
                for li in page.select("#service-list > li")}
    assert services == {"Search": "Operational", "Web shop": "Operational"}
    assert not page.select("#incident-list article")
    assert not page.select_one("#no-incidents").has_attr("hidden")
    assert page.select_one("html")["lang"] == "en"
    assert "script-src 'self'" in (await http.get("/status")).headers["content-security-policy"]


async def test_outage_incidents_and_updates_without_anything_internal(http, seeded, clock):
    admin, web = seeded
    hidden = await service.create_incident(service.NewIncident(
        title="db01 replica lag", impact=Impact.HIGH, urgency=Urgency.HIGH, service_id=web.id,
        assignee_id=admin.id), actor=admin, now=clock.now())
    shown = await service.create_incident(service.NewIncident(
        title="LB edge-3 <misconfig>", impact=Impact.HIGH, urgency=Urgency.MEDIUM,
        service_id=web.id, public=True, public_title="Slow <checkout> & payments"),
        actor=admin, now=clock.now())
    await service.add_note(shown.id, "We are investigating", public=True, actor=admin,
                           now=clock.advance(60))
    await service.add_note(shown.id, "edge-3 needs a reboot, ask Bob", public=False,
                           actor=admin, now=clock.advance(60))
    await service.add_note(shown.id, "A fix is rolling out", public=True, actor=admin,
                           now=clock.advance(60))
    response = await http.get("/status")
    page = parse(response)

    assert text(page.select_one("#banner h2")) == "Major outage"
    assert page.select_one("#banner")["data-status"] == "MAJOR_OUTAGE"
    assert text(page.select_one("#banner-affected")) == "Affected: Web shop"
    web_row = page.select_one('li[data-service="Web shop"]')
    assert text(web_row.select_one(".service-status")) == "Major outage"

    articles = page.select("#incident-list article")
    assert len(articles) == 1
    article = articles[0]
    assert article["id"] == shown.reference
    assert text(article.select_one("h3")) == "Slow <checkout> & payments"  # escaped, shown
    assert "Partial outage" in text(article.select_one(".meta"))
    updates = [text(li.select_one("p")) for li in article.select("ol.updates li")]
    assert updates == ["A fix is rolling out", "We are investigating"]  # newest first
    stamp = article.select_one("ol.updates li time")
    assert stamp["datetime"] == "2026-01-05T10:03:00Z"
    assert text(stamp) == "2026-01-05 10:03 UTC"

    for secret in ("db01", "edge-3", "Bob", "misconfig", "admin", f'"{web.id}"',
                   f"INC-{hidden.number}"):
        assert secret not in response.text, secret

    await service.change_status(hidden.id, IncidentStatus.CANCELLED, actor=admin,
                                now=clock.advance(60))
    page = parse(await http.get("/status"))
    assert text(page.select_one("#banner h2")) == "Partial outage"


async def test_each_service_has_90_day_bars_naming_public_incidents(http, seeded, clock):
    admin, web = seeded
    incident = await service.create_incident(service.NewIncident(
        title="internal name", impact=Impact.HIGH, urgency=Urgency.LOW, service_id=web.id,
        public=True, public_title="Search is slow"), actor=admin, now=clock.now())
    await service.resolve(incident.id, "done", actor=admin, now=clock.advance(600))
    clock.advance(timedelta(days=2).total_seconds())
    page = parse(await http.get("/status"))
    bars = page.select('li[data-service="Web shop"] ol.bars > li')
    assert len(bars) == 90
    assert bars[-1]["data-day"] == "2026-01-07"
    degraded = bars[-3]
    assert degraded["data-day"] == "2026-01-05"
    assert degraded["data-status"] == "DEGRADED"
    assert degraded["title"] == "2026-01-05: Degraded performance (Search is slow)"
    assert degraded["aria-label"] == degraded["title"] and degraded["tabindex"] == "0"
    assert bars[-1]["title"] == "2026-01-07: Operational"
    assert bars[0]["data-status"] == "NONE"  # before the service existed
    uptime = text(page.select_one('li[data-service="Web shop"] .uptime'))
    assert uptime == "100.00 % uptime"  # degraded is not downtime
    assert page.select_one('li[data-service="Web shop"] ol.bars')["aria-label"]


async def test_title_brand_logo_and_feed_links_come_from_settings(http, seeded, settings):
    settings.status_title = "Acme <status>"
    settings.status_brand = "Acme Corp"
    settings.status_logo_url = "https://acme.example/logo.svg"
    page = parse(await http.get("/status"))
    assert text(page.select_one("title")) == "Acme <status>"
    assert text(page.select_one("h1")) == "Acme <status>"
    logo = page.select_one("header img")
    assert logo["src"] == "https://acme.example/logo.svg" and logo["alt"] == "Acme Corp"
    assert text(page.select_one(".brand-text")) == "Acme Corp"
    alternates = {link["type"]: link["href"] for link in page.select('link[rel="alternate"]')}
    assert alternates == {"application/feed+json": "http://tocsin.test/status/feed.json",
                          "application/atom+xml": "http://tocsin.test/status/feed.atom"}
    script = page.select_one("script[src]")
    assert script["src"] == "/status/static/status.js" and script.has_attr("defer")


async def test_static_files_are_served(http, database):
    script = await http.get("/status/static/status.js")
    assert script.status_code == 200 and "graphql-transport-ws" in script.text
    assert (await http.get("/status/static/status.css")).status_code == 200
    assert (await http.get("/status/static/../web.py")).status_code == 404


def test_default_title():
    assert Settings(_env_file=None).status_title == "Service status"  # type: ignore[call-arg]
