"""`metrics` against hand-computed figures: incidents worked through the service at known
instants, read back through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.auth.models import Role
from app.graphql.ids import to_global_id
from app.incidents import service as incidents
from tests.fixtures_slas import new_incident

QUERY = """query($from: DateTime, $to: DateTime, $service: ID) {
  metrics(from: $from, to: $to, serviceId: $service) {
    incidentCount openCount mttaSeconds mttrSeconds slaCompliancePercent } }"""


@pytest.fixture
async def history(covered, manager, users, clock):
    """t0 = clock start. Covered service (P2: response 600 s, resolution 3600 s):
    I1 created t0, acknowledged +120, resolved +1000  -> response MET, resolution MET
    I2 created t0+60, acknowledged +900 (t0+960)       -> response BREACHED, still open
    I4 created t0+2 days, still NEW
    Other service (no policy): I3 created t0+200, acknowledged +300, resolved +5000."""
    responder = users[Role.RESPONDER][0]
    other = await incidents.create_service(name="Other", description=None, public=True,
                                           actor=manager, now=clock.now())
    t0 = clock.now()

    def at(seconds: float):
        clock.set(t0 + timedelta(seconds=seconds))
        return clock.now()

    i1 = await new_incident(responder, at(0), covered.id)
    i2 = await new_incident(responder, at(60), covered.id)
    await incidents.acknowledge(i1.id, actor=responder, now=at(120))
    i3 = await new_incident(responder, at(200), other.id)
    await incidents.acknowledge(i3.id, actor=responder, now=at(500))
    await incidents.acknowledge(i2.id, actor=responder, now=at(960))
    await incidents.resolve(i1.id, "fixed", actor=responder, now=at(1000))
    await incidents.resolve(i3.id, "fixed", actor=responder, now=at(5200))
    await new_incident(responder, at(2 * 86400), covered.id)
    return {"t0": t0, "covered": covered, "other": other}


async def _metrics(api, **variables) -> dict:
    return (await api(QUERY, variables, role=Role.VIEWER)).ok()["metrics"]


async def test_all_time(api, history):
    m = await _metrics(api)
    assert (m["incidentCount"], m["openCount"]) == (4, 2)
    assert m["mttaSeconds"] == pytest.approx((120 + 900 + 300) / 3, abs=1e-3)
    assert m["mttrSeconds"] == pytest.approx((1000 + 5000) / 2, abs=1e-3)
    assert m["slaCompliancePercent"] == pytest.approx(100 * 2 / 3)


async def test_a_range_and_a_service(api, history):
    t0 = history["t0"]
    day = await _metrics(api, **{"from": t0.isoformat(),
                                 "to": (t0 + timedelta(days=1)).isoformat()})
    assert (day["incidentCount"], day["openCount"]) == (3, 1)
    assert day["mttaSeconds"] == pytest.approx(440, abs=1e-3)

    covered = await _metrics(api, service=to_global_id("Service", history["covered"].id))
    assert (covered["incidentCount"], covered["openCount"]) == (3, 2)
    assert covered["mttaSeconds"] == pytest.approx((120 + 900) / 2, abs=1e-3)
    assert covered["mttrSeconds"] == pytest.approx(1000, abs=1e-3)
    assert covered["slaCompliancePercent"] == pytest.approx(100 * 2 / 3)

    other = await _metrics(api, service=to_global_id("Service", history["other"].id))
    assert other["incidentCount"] == 1 and other["slaCompliancePercent"] is None

    # Only I1's response (ended at t0+120) ended in the first 500 seconds: 100 %.
    early = await _metrics(api, **{"from": t0.isoformat(),
                                   "to": (t0 + timedelta(seconds=500)).isoformat()})
    assert early["slaCompliancePercent"] == 100.0
    assert early["incidentCount"] == 3  # I1, I2, I3 created in it (to is exclusive)

    later = await _metrics(api, **{"from": (t0 + timedelta(days=1)).isoformat()})
    assert later == {"incidentCount": 1, "openCount": 1, "mttaSeconds": None,
                     "mttrSeconds": None, "slaCompliancePercent": None}


async def test_bad_range_and_no_token(api, history):
    t0 = history["t0"]
    bad = await api(QUERY, {"from": t0.isoformat(), "to": (t0 - timedelta(1)).isoformat()},
                    role=Role.VIEWER)
    assert bad.codes == ["BAD_USER_INPUT"]
    assert (await api(QUERY, role=None)).codes == ["UNAUTHENTICATED"]
