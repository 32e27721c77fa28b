"""Helpers for problem tests: a manager and a responder, and quick ways to make services,
incidents and problems through the real services."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from app.incidents import service as incidents
from app.incidents.models import Impact, Incident, Service, Urgency
from app.problems import service
from app.problems.models import Problem


@pytest.fixture
def manager(users):
    return users[Role.MANAGER][0]


@pytest.fixture
def responder(users):
    return users[Role.RESPONDER][0]


@pytest.fixture
def make(manager, responder, clock):
    class Make:
        async def service(self, name: str = "Payments") -> Service:
            return await incidents.create_service(
                name=name, description=None, public=True, actor=manager, now=clock.now())

        async def incident(self, title: str = "Card payments fail", **kw) -> Incident:
            data = incidents.NewIncident(title=title, impact=kw.pop("impact", Impact.HIGH),
                                         urgency=kw.pop("urgency", Urgency.MEDIUM), **kw)
            return await incidents.create_incident(data, actor=responder, now=clock.now())

        async def problem(self, title: str = "Gateway drops connections", **kw) -> Problem:
            return await service.create_problem(service.NewProblem(title=title, **kw),
                                                actor=manager, now=clock.now())

    return Make()
