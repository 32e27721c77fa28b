"""/status in headless Chromium against a real `tocsin serve`: what a reader sees, live
updates without a reload, and the script's graphql-transport-ws client (protocol and back-off).

Needs Debian's `chromium` and tests/js/node_modules (playwright-core); skips, saying which is
missing, without them. The live test needs the `statusPage` subscription (the `live` branch)
and skips until the served schema has it. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.fixtures_server import ROOT, RunningServer, node_peers, start_server, stop_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"


def browser_peers() -> Path:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    js = node_peers()
    if not (js / "node_modules" / "playwright-core").is_dir():
        pytest.skip("tests/js/node_modules/playwright-core is missing: run `make install`")
    return js


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path, extra_env={"TOCSIN_STATUS_TITLE": "Acme Cloud status",
                                                "TOCSIN_STATUS_BRAND": "Acme"})
    yield running
    stop_server(running)


def gql(server: RunningServer, query: str, **variables: Any) -> Any:
    response = httpx.post(server.graphql, json={"query": query, "variables": variables},
                          headers={"authorization": f"Bearer {server.admin_token}"}, timeout=10)
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def service(server: RunningServer, name: str, public: bool = True) -> str:
    return str(gql(server, "mutation($n: String!, $p: Boolean) { createService(input: "
                   "{ name: $n, public: $p }) { id } }", n=name, p=public)["createService"]["id"])


def incident(server: RunningServer, service_id: str, title: str, impact: str, urgency: str,
             public_title: str | None = None) -> str:
    return str(gql(
        server, "mutation($s: ID!, $t: String!, $i: Impact!, $u: Urgency!, $p: Boolean, "
        "$pt: String) { createIncident(input: { title: $t, serviceId: $s, impact: $i, "
        "urgency: $u, public: $p, publicTitle: $pt }) { id } }", s=service_id, t=title,
        i=impact, u=urgency, p=public_title is not None, pt=public_title,
    )["createIncident"]["id"])


def note(server: RunningServer, incident_id: str, text: str, public: bool) -> None:
    gql(server, "mutation($id: ID!, $n: String!, $p: Boolean) { addIncidentNote(id: $id, "
        "note: $n, public: $p) { sequence } }", id=incident_id, n=text, p=public)


def drive(scenario: str, server: RunningServer, screenshot: Path, **options: Any
          ) -> dict[str, Any]:
    js = browser_peers()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        ["node", "status_page.mjs", scenario, server.url, server.admin_token, str(screenshot),
         json.dumps(options)],
        cwd=js, capture_output=True, text=True, timeout=120,
        env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert "error" not in report, report["error"]
    assert report["pageErrors"] == []
    return report


def has_status_page_subscription(server: RunningServer) -> bool:
    data = gql(server, '{ __type(name: "Subscription") { fields { name } } }')["__type"]
    return bool(data) and any(f["name"] == "statusPage" for f in data["fields"])


def test_page_shows_services_incidents_and_local_times_in_chromium(server: RunningServer):
    browser_peers()
    web = service(server, "Web shop")
    search = service(server, "Search")
    service(server, "Payroll batch", public=False)
    shown = incident(server, web, "LB edge-3 flapping", "HIGH", "MEDIUM",
                     public_title="Slow checkout")
    note(server, shown, "We are investigating reports of slow checkout.", True)
    note(server, shown, "edge-3 BGP session flaps, paging Carol", False)
    note(server, shown, "A fix is being deployed.", True)
    incident(server, search, "es-2 heap pressure", "HIGH", "LOW")  # P3, internal

    shot = ARTIFACTS / "status-page.png"
    report = drive("static", server, shot, timezone="Asia/Kolkata")
    page = report["steps"]["final"]
    assert page["title"] == "Acme Cloud status"  # from TOCSIN_STATUS_TITLE
    assert (page["banner"], page["bannerStatus"]) == ("Partial outage", "PARTIAL_OUTAGE")
    assert [(s["name"], s["status"], s["bars"]) for s in page["services"]] == [
        ("Search", "Degraded performance", 90), ("Web shop", "Partial outage", 90)]
    assert [(i["title"], i["updates"]) for i in page["incidents"]] == [
        ("Slow checkout", ["A fix is being deployed.",
                           "We are investigating reports of slow checkout."])]
    for secret in ("edge-3", "Carol", "es-2", "Payroll", "admin"):
        assert secret not in page["bodyText"], secret
    # Times arrive as UTC and are shown in the reader's zone (here UTC+05:30).
    stamp = page["times"][0]
    local = datetime.fromisoformat(stamp["datetime"]).astimezone(ZoneInfo("Asia/Kolkata"))
    assert local.strftime("%H:%M") in stamp["shown"] and stamp["title"].endswith("UTC")
    assert stamp["shown"] != stamp["title"]
    assert shot.stat().st_size > 10_000


def test_page_updates_live_in_chromium_without_a_reload(server: RunningServer):
    browser_peers()
    if not has_status_page_subscription(server):
        pytest.skip("statusPage subscription not merged yet")
    web = service(server, "Web shop")
    search = service(server, "Search")
    shot = ARTIFACTS / "status-page-live.png"
    report = drive("live", server, shot, serviceId=web, renameId=search)
    steps = report["steps"]
    assert steps["initial"]["banner"] == "All systems operational"
    assert [s["name"] for s in steps["initial"]["services"]] == ["Search", "Web shop"]
    assert steps["connected"]["ok"], "the script never reported a live connection"
    assert steps["outage"]["ok"], f"no outage state within 2 s ({steps['outage']['ms']} ms)"
    assert steps["publicNote"]["ok"], "the public note did not appear within 2 s"
    assert steps["secondPublicNote"]["ok"]
    final = steps["final"]
    assert final["marker"], "the page was reloaded"
    assert (final["banner"], final["bannerStatus"]) == ("Major outage", "MAJOR_OUTAGE")
    web_row = next(s for s in final["services"] if s["name"] == "Web shop")
    assert (web_row["status"], web_row["todayStatus"]) == ("Major outage", "MAJOR_OUTAGE")
    assert [(i["title"], i["updates"]) for i in final["incidents"]] == [
        ("Checkout is down", ["Traffic is flowing again", "We are rerouting traffic"])]
    assert "Alice" not in final["bodyText"] and "r7" not in final["bodyText"]
    # The renamed service keeps its row and its 90 day bars (no second, empty row).
    assert steps["renamed"]["ok"], "the rename did not show within 2 s"
    assert [(s["name"], s["bars"]) for s in final["services"]] == [
        ("Site search", 90), ("Web shop", 90)]


def test_script_speaks_graphql_transport_ws_and_backs_off(server: RunningServer):
    """The script against a scripted protocol peer in the browser: it subscribes with the
    page's selection, renders a pushed snapshot in place, answers pings, and after the
    connection drops retries with growing delays."""
    browser_peers()
    service(server, "Web shop")
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    snapshot = {
        "updatedAt": later,  # newer than the served page, or the script would keep its own
        "services": [{"name": "Web shop", "status": "MAJOR_OUTAGE"},
                     {"name": "Mail", "status": "OPERATIONAL"}],
        "incidents": [{"reference": "INC-9", "title": "Pushed <b>live</b>", "status": "NEW",
                       "priority": "P1", "createdAt": "2026-01-05T09:29:00Z",
                       "updates": [{"at": "2026-01-05T09:30:00Z", "message": "On it"}]}],
    }
    report = drive("protocol", server, ARTIFACTS / "status-page-protocol.png",
                   snapshot=snapshot, expectText="Pushed <b>live</b>", watchMs=4500)
    steps = report["steps"]
    assert steps["pushed"]["ok"], f"the pushed snapshot was not rendered: {steps}"
    after = steps["afterPush"]
    assert after["marker"] and after["bannerStatus"] == "MAJOR_OUTAGE"
    assert [(s["name"], s["status"]) for s in after["services"]] == [
        ("Web shop", "Major outage"), ("Mail", "Operational")]
    assert after["incidents"] == [{"reference": "INC-9", "title": "Pushed <b>live</b>",
                                   "updates": ["On it"]}]
    messages = [(m["n"], m["type"]) for m in steps["connections"] if m["event"] == "message"]
    assert messages[:3] == [(1, "connection_init"), (1, "subscribe"), (1, "pong")]
    subscribe = next(m for m in steps["connections"] if m.get("type") == "subscribe")
    assert subscribe["query"].startswith("subscription")
    assert "statusPage" in subscribe["query"] and "updates { at message }" in subscribe["query"]
    opens = [m["at"] for m in steps["connections"] if m["event"] == "open"]
    assert len(opens) >= 3, opens  # dropped, then retried at least twice
    gaps = [b - a for a, b in itertools.pairwise(opens[1:])]
    assert opens[1] - opens[0] >= 300 + 400  # the drop came 300 ms in; first wait ≥ 0.5 s
    assert all(gap >= 900 for gap in gaps), gaps  # then ≥ 1 s, growing (jittered)
    assert steps["afterDrop"]["live"] == "offline"
    assert steps["afterDrop"]["bannerStatus"] == "MAJOR_OUTAGE"  # what it knew stays
