"""The public status page over plain HTTP: `/status` (server-rendered HTML that works without
JavaScript; `static/status.js` then keeps it current through the `statusPage` subscription),
`/status/feed.json` (JSON Feed 1.1) and `/status/feed.atom` (Atom 1.0), and the page's static
files under `/status/static/`. No token: everything here is public data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.config import Settings
from app.incidents.models import Service, ServiceStatus
from app.incidents.rules import priority_rank
from app.statuspage import history, service

STATIC = Path(__file__).parent / "static"

SERVICE_LABELS = {
    ServiceStatus.OPERATIONAL: "Operational",
    ServiceStatus.DEGRADED: "Degraded performance",
    ServiceStatus.PARTIAL_OUTAGE: "Partial outage",
    ServiceStatus.MAJOR_OUTAGE: "Major outage",
}
INCIDENT_LABELS = {
    "NEW": "Investigating",
    "ACKNOWLEDGED": "Acknowledged",
    "IN_PROGRESS": "Fix in progress",
    "ON_HOLD": "On hold",
    "RESOLVED": "Resolved",
    "CLOSED": "Closed",
    "CANCELLED": "Cancelled",
}
IMPACT_BY_PRIORITY = {"P1": "MAJOR_OUTAGE", "P2": "PARTIAL_OUTAGE", "P3": "DEGRADED"}
ALL_OPERATIONAL = "All systems operational"
_SEVERITY = [ServiceStatus.OPERATIONAL, ServiceStatus.DEGRADED, ServiceStatus.PARTIAL_OUTAGE,
             ServiceStatus.MAJOR_OUTAGE]

templates = Environment(
    loader=PackageLoader("app.statuspage", "templates"),
    autoescape=select_autoescape(["html", "atom"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


templates.filters["utc"] = utc_text
templates.filters["iso"] = iso


@dataclass
class ServiceRow:
    key: str
    name: str
    status: ServiceStatus
    history: history.ServiceHistory | None


@dataclass
class PageView:
    overall: ServiceStatus
    affected: list[str]
    services: list[ServiceRow]
    page: service.StatusPage
    now: datetime


def worst(statuses: list[ServiceStatus]) -> ServiceStatus:
    return max(statuses, key=_SEVERITY.index, default=ServiceStatus.OPERATIONAL)


async def build_page_view(*, now: datetime) -> PageView:
    page = await service.build_status_page(now=now)
    rows = await Service.filter(public=True).values_list("id", "created_at")
    histories = await history.service_histories(
        [(int(pk), created) for pk, created in rows], now=now)
    services = [ServiceRow(s.key, s.name, s.status, histories.get(s.service_id))
                for s in page.services]
    overall = worst([s.status for s in services])
    affected = [s.name for s in services if s.status != ServiceStatus.OPERATIONAL]
    return PageView(overall, affected, services, page, now)


def _runtime_settings(request: Request) -> tuple[Settings, datetime]:
    runtime = request.app.state.runtime
    return runtime.settings, runtime.clock.now()


def _links(request: Request) -> dict[str, str]:
    base = str(request.base_url).rstrip("/")
    return {"home": base + "/status", "json": base + "/status/feed.json",
            "atom": base + "/status/feed.atom"}


def _labels() -> dict[str, Any]:
    """What the script needs to render exactly like the server (one source of truth)."""
    return {
        "service": {str(k): v for k, v in SERVICE_LABELS.items()},
        "incident": INCIDENT_LABELS,
        "impactByPriority": IMPACT_BY_PRIORITY,
        "allOperational": ALL_OPERATIONAL,
    }


PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def status_page(request: Request) -> Response:
    settings, now = _runtime_settings(request)
    view = await build_page_view(now=now)
    html = templates.get_template("status.html").render(
        settings=settings,
        view=view,
        links=_links(request),
        labels=SERVICE_LABELS,
        incident_labels=INCIDENT_LABELS,
        impact_by_priority=IMPACT_BY_PRIORITY,
        all_operational=ALL_OPERATIONAL,
        labels_json=json.dumps(_labels()).replace("<", "\\u003c"),
        severity=priority_rank,
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


async def json_feed(request: Request) -> Response:
    settings, _ = _runtime_settings(request)
    links = _links(request)
    entries = await service.public_feed()
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": settings.status_title,
        "home_page_url": links["home"],
        "feed_url": links["json"],
        "description": f"Public incident updates from {settings.status_title}",
        "language": "en",
        "items": [
            {
                "id": f"{links['home']}#{entry.key}",
                "url": f"{links['home']}#{entry.reference}",
                "title": f"{entry.reference}: {entry.incident_title}",
                "content_text": entry.message,
                "date_published": iso(entry.at),
                "tags": [entry.kind],
            }
            for entry in entries
        ],
    }
    return Response(json.dumps(feed, ensure_ascii=False), media_type="application/feed+json",
                    headers={"Cache-Control": "no-cache"})


async def atom_feed(request: Request) -> Response:
    settings, now = _runtime_settings(request)
    entries = await service.public_feed()
    xml = templates.get_template("feed.atom").render(
        settings=settings, links=_links(request), entries=entries,
        updated=entries[0].at if entries else now)
    return Response(xml, media_type="application/atom+xml",
                    headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    """Everything under /status; create_app adds these to its routes."""
    return [
        Route("/status", status_page),
        Route("/status/feed.json", json_feed),
        Route("/status/feed.atom", atom_feed),
        Mount("/status/static", StaticFiles(directory=STATIC), name="status-static"),
    ]
