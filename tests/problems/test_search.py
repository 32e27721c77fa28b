"""Full-text search over known errors: FTS5 on SQLite, a weighted tsvector with a GIN index on
PostgreSQL; both kept in sync with every change to a problem."""

from __future__ import annotations

from app import db
from app.problems import queries, service
from app.problems.models import Problem, ProblemStatus

P = ProblemStatus


async def _known_error(make, manager, clock, title, **fields) -> Problem:
    problem = await make.problem(title, description=fields.pop("description", None))
    for status in (P.INVESTIGATING, P.KNOWN_ERROR):
        problem = await service.update_problem(problem.id, {"status": status, **fields},
                                               actor=manager, now=clock.now())
        fields = {}
    return problem


async def _refs(search):
    return [p.reference for p in await queries.known_errors(search, limit=50)]


async def test_search_matches_every_field_stemmed_and_by_prefix(make, manager, clock):
    await _known_error(make, manager, clock, "Checkout times out under load",
                       root_cause="Connection pool exhausted", workaround="Restart the pods")
    await _known_error(make, manager, clock, "Login page blank",
                       description="Safari only", workaround="Clear the browser cache")
    await _known_error(make, manager, clock, "Emails delayed",
                       root_cause="SMTP relay throttling after deploys")
    assert await _refs("timeout") == []  # "times out" is two words, not "timeout"
    assert await _refs("time") == ["PRB-1"]  # stems: "times" → "time"
    assert await _refs("pool exhaust") == ["PRB-1"]  # prefix and stem, across fields
    assert await _refs("restarting") == ["PRB-1"]  # workaround, stemmed
    assert await _refs("safari") == ["PRB-2"]  # description
    assert await _refs("cach") == ["PRB-2"]  # a prefix
    assert await _refs("SMTP deploy") == ["PRB-3"]  # root cause, case-folded
    assert await _refs("login smtp") == []  # every word must match
    assert await _refs("restart the pods") == ["PRB-1"]  # stop words are not required
    # Operator characters of either syntax are just separators, never an error.
    assert await _refs('pool"* OR -(exhausted) & !:') == ["PRB-1"]
    assert await _refs("   ") == ["PRB-3", "PRB-2", "PRB-1"]  # no words: all, newest first


async def test_only_known_errors_are_found_and_ranked_by_title(make, manager, clock):
    titled = await _known_error(make, manager, clock, "Database failover slow")
    mentioned = await _known_error(make, manager, clock, "Reports stale",
                                   description="after a database failover the cache is old")
    investigating = await make.problem("Database failover loses writes")
    await service.update_problem(investigating.id, {"status": P.INVESTIGATING}, actor=manager,
                                 now=clock.now())
    assert await _refs("database failover") == [titled.reference, mentioned.reference]


async def test_the_index_follows_updates_and_status_changes(make, manager, clock):
    problem = await _known_error(make, manager, clock, "Queue backlog")
    assert await _refs("rabbitmq") == []
    await service.update_problem(problem.id, {"root_cause": "RabbitMQ disk alarm"},
                                 actor=manager, now=clock.now())
    assert await _refs("rabbitmq") == ["PRB-1"]
    await service.update_problem(problem.id, {"root_cause": None, "title": "Kafka lag"},
                                 actor=manager, now=clock.now())
    assert await _refs("rabbitmq") == [] and await _refs("backlog") == []
    assert await _refs("kafka") == ["PRB-1"]
    await service.resolve_problem(problem.id, "fixed", resolve_linked_incidents=False,
                                  actor=manager, now=clock.now())
    assert await _refs("kafka") == []  # resolved: no longer a known error


async def test_the_backend_index_is_what_answers(make, manager, clock):
    """The search runs on the dialect's own index, not on a LIKE fallback."""
    await _known_error(make, manager, clock, "Certificates expire unnoticed")
    conn = db.connection()
    if db.is_postgres():
        rows = await conn.execute_query_dict(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'problems_search_document'")
        assert "gin" in rows[0]["indexdef"].lower()
        rows = await conn.execute_query_dict(
            "SELECT count(*) AS n FROM problems"
            " WHERE search_document @@ to_tsquery('english', 'certificate')")
    else:
        rows = await conn.execute_query_dict(
            "SELECT count(*) AS n FROM problems_fts WHERE problems_fts MATCH 'certificate'")
    assert rows[0]["n"] == 1
