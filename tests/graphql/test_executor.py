"""The plain-leaf shortcut (app/graphql/executor.py) gives exactly what graphql-core gives:
the same documents run through the API with the shortcut and without it, compared whole;
and on a small schema built to fail, the same errors at the same paths."""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.auth.models import Role
from app.graphql.executor import FastLeafExecutor
from app.incidents import service as incidents
from app.incidents.models import Impact, Urgency
from app.problems import service as problems
from tests.fixtures_slas import new_incident

DOCUMENTS = [
    """{ incidents(first: 20) { totalCount edges { cursor node { id number reference title
        description status impact urgency priority resolution public publicTitle startedAt
        createdAt acknowledgedAt resolvedAt closedAt service { id name description public
        status slaPolicy { name timezone warnAtPercent } } assignee { id name role }
        slaTimers { kind state targetSeconds dueAt elapsedSeconds remainingSeconds
        breachedAt } problem { reference status } } } pageInfo { hasNextPage
        hasPreviousPage startCursor endCursor } } }""",
    """fragment Basics on Incident { reference title priority }
       query { incidents(first: 5) { edges { node { ...Basics ... on Incident { status }
       __typename alias: title } } } }""",
    """query($ref: String!) { incident(reference: $ref) { reference timeline(first: 10) {
       edges { node { sequence type fromStatus toStatus note occurredAt actor { name } } } } } }""",
    """{ services { name status public } problems(first: 5) { edges { node { reference title
       status rootCause workaround incidents { reference } } } } }""",
    """{ events(first: 30) { edges { node { sequence type public note occurredAt
       incident { reference } } } } }""",
    """{ metrics { incidentCount openCount mttaSeconds byPriority { priority incidentCount }
       trend(interval: DAY) { start incidentCount } } }""",
]


@pytest.fixture
async def worked(covered, manager, users, clock):
    responder = users[Role.RESPONDER][0]
    made = []
    for k in range(6):
        clock.set(clock.now() + timedelta(minutes=10))
        incident = await new_incident(responder, clock.now(), covered.id if k % 3 else None,
                                      impact=Impact.HIGH, urgency=list(Urgency)[k % 3])
        made.append(incident)
    await incidents.acknowledge(made[1].id, actor=responder, now=clock.now())
    await incidents.update_incident(made[2].id, {"assignee_id": responder.id},
                                    actor=responder, now=clock.now())
    await incidents.resolve(made[4].id, "restarted", actor=responder, now=clock.now())
    problem = await problems.create_problem(problems.NewProblem(
        title="Pool exhaustion", incident_ids=[made[1].id]), actor=manager, now=clock.now())
    await problems.update_problem(problem.id, {"root_cause": "pool too small"},
                                  actor=manager, now=clock.now())
    return made


async def test_api_answers_the_same_with_and_without_the_shortcut(api, worked, monkeypatch):
    variables = {"ref": worked[1].reference}
    fast = [(await api(doc, variables if "$ref" in doc else None)).body for doc in DOCUMENTS]
    monkeypatch.setattr(FastLeafExecutor, "execute_fields",
                        StrawberryGraphQLCoreExecutionContext.execute_fields)
    plain = [(await api(doc, variables if "$ref" in doc else None)).body for doc in DOCUMENTS]
    for document, one, other in zip(DOCUMENTS, fast, plain, strict=True):
        assert "errors" not in one, (document, one)
        assert one == other, document
    assert len(fast[0]["data"]["incidents"]["edges"]) == 6


# -- a schema built to fail, run both ways ----------------------------------------------------

@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"


@strawberry.type
class Odd:
    name: str  # set to None below: null where null is not allowed
    nickname: str | None
    colour: Colour  # set to a string that is not a member
    count: int  # set to a value that is not an integer



@strawberry.type
class Query:
    @strawberry.field
    def good(self) -> Odd | None:
        return Odd(name="ok", nickname=None, colour=Colour.RED, count=1)

    @strawberry.field
    def nameless(self) -> Odd | None:
        return Odd(name=None, nickname="n", colour=Colour.RED, count=2)  # type: ignore[arg-type]

    @strawberry.field
    def off_colour(self) -> Odd | None:
        return Odd(name="c", nickname=None, colour="BLUE", count=3)  # type: ignore[arg-type]

    @strawberry.field
    def uncountable(self) -> Odd | None:
        return Odd(name="d", nickname=None, colour=Colour.RED, count="many")  # type: ignore[arg-type]


def _run(executor: Any) -> dict[str, Any]:
    schema = strawberry.Schema(query=Query, execution_context_class=executor)
    fields = "{ name nickname colour count }"
    result = schema.execute_sync(
        f"{{ good {fields} nameless {fields} offColour {fields} uncountable {fields} }}")
    return {"data": result.data,
            "errors": sorted((e.message, tuple(e.path or ())) for e in result.errors or [])}


def test_errors_are_graphql_cores():
    fast, plain = _run(FastLeafExecutor), _run(StrawberryGraphQLCoreExecutionContext)
    assert len(plain["errors"]) == 3  # the null name, the colour and the count
    assert fast == plain
