"""CSRF: what a browser can send cross-site without a preflight is refused, mutations never
run over GET, and CORS answers only the allow-listed origins."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from app.incidents.models import Service
from tests.hardening.conftest import bearer

MUTATION = 'mutation { createService(input: {name: "csrf"}) { id } }'


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
])
async def test_simple_request_bodies_are_refused_and_change_nothing(app_client, users,
                                                                    content_type):
    token = users[Role.ADMIN][1]
    body = '{"query": "' + MUTATION.replace('"', '\\"') + '"}'
    async with app_client() as (client, _):
        r = await client.post("/graphql", content=body,
                              headers={"content-type": content_type, **bearer(token)})
    assert r.status_code == 415
    assert r.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert await Service.all().count() == 0


async def test_the_json_defence_is_what_stops_it(app_client, users):
    """The same body as application/json does create the service: the refusal above is the
    content-type rule, not a malformed request."""
    token = users[Role.ADMIN][1]
    async with app_client() as (client, _):
        r = await client.post("/graphql", json={"query": MUTATION}, headers=bearer(token))
    assert r.json()["data"]["createService"]["id"]
    assert await Service.all().count() == 1


async def test_mutations_over_get_are_refused(app_client, users):
    token = users[Role.ADMIN][1]
    async with app_client() as (client, _):
        r = await client.get("/graphql", params={"query": MUTATION}, headers=bearer(token))
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert await Service.all().count() == 0


PREFLIGHT = {"access-control-request-method": "POST",
             "access-control-request-headers": "authorization, content-type"}


async def test_cors_preflight_only_for_listed_origins(app_client):
    async with app_client(allowed_origins="https://ops.example.com") as (client, _):
        ok = await client.options("/graphql", headers={
            "origin": "https://ops.example.com", **PREFLIGHT})
        evil = await client.options("/graphql", headers={
            "origin": "https://evil.example", **PREFLIGHT})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert evil.status_code == 400 and "access-control-allow-origin" not in evil.headers


async def test_requests_from_unlisted_origins_are_refused(app_client, users):
    token = users[Role.ADMIN][1]
    async with app_client(allowed_origins="https://ops.example.com") as (client, _):
        evil = await client.post("/graphql", json={"query": MUTATION},
                                 headers={"origin": "https://evil.example", **bearer(token)})
        listed = await client.post("/graphql", json={"query": "{ __typename }"},
                                   headers={"origin": "https://ops.example.com"})
        same_origin = await client.post("/graphql", json={"query": "{ __typename }"},
                                         headers={"origin": "http://tocsin.test"})
        no_origin = await client.post("/graphql", json={"query": "{ __typename }"})
    assert evil.status_code == 403
    assert evil.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN_ORIGIN"
    assert await Service.all().count() == 0
    assert listed.headers["access-control-allow-origin"] == "https://ops.example.com"
    for r in (listed, same_origin, no_origin):
        assert r.json() == {"data": {"__typename": "Query"}}


async def test_without_an_allow_list_no_foreign_origin_gets_cors_headers(app_client):
    async with app_client() as (client, _):
        r = await client.options("/graphql", headers={"origin": "https://a.example",
                                                      **PREFLIGHT})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers


def test_allowed_origins_come_from_a_comma_separated_variable(monkeypatch):
    from app.config import Settings

    monkeypatch.setenv("TOCSIN_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]
