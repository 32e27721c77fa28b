"""Against a real `tocsin serve`: the first-start admin token, GraphiQL, health, and the
graphql-http audit suite (the reference implementation's compliance checks)."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.fixtures_server import RunningServer, node_peers


def test_first_start_prints_an_admin_token_that_works(served: RunningServer):
    assert served.admin_token.startswith("tocsin_")
    response = httpx.post(served.graphql, json={"query": "{ viewer { name role } }"},
                          headers={"authorization": f"Bearer {served.admin_token}"})
    assert response.json() == {"data": {"viewer": {"name": "admin", "role": "ADMIN"}}}


def test_graphiql_is_served_to_browsers(served: RunningServer):
    page = httpx.get(served.graphql, headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_health_and_readiness(served: RunningServer):
    assert httpx.get(served.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(served.url + "/readyz").json()["database"] == "up"


def test_get_runs_queries_but_never_mutations(served: RunningServer):
    auth = {"authorization": f"Bearer {served.admin_token}"}
    query = httpx.get(served.graphql, params={"query": "{ viewer { name } }"}, headers=auth)
    assert query.json()["data"] == {"viewer": {"name": "admin"}}
    mutation = httpx.get(
        served.graphql, headers=auth,
        params={"query": 'mutation { createService(input: {name: "x"}) { id } }'})
    assert mutation.status_code == 405
    services = httpx.post(served.graphql, json={"query": "{ services { name } }"}, headers=auth)
    assert services.json()["data"]["services"] == []


def test_graphql_http_audit_has_no_failures_or_warnings(served: RunningServer):
    js = node_peers()
    run = subprocess.run(["node", "audit.mjs", served.graphql], cwd=js, capture_output=True,
                         text=True, timeout=120, check=True)
    results = json.loads(run.stdout)["results"]
    assert len(results) > 50
    problems = [(r["status"], r["name"], r.get("reason")) for r in results if r["status"] != "ok"]
    assert problems == []
