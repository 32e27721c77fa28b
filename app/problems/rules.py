"""The problem rules of DESIGN.md as plain data: the lifecycle, which statuses count as open,
and which event a status change emits."""

from __future__ import annotations

from app.problems.models import ProblemStatus

P = ProblemStatus

TRANSITIONS: dict[ProblemStatus, frozenset[ProblemStatus]] = {
    P.NEW: frozenset({P.INVESTIGATING}),
    P.INVESTIGATING: frozenset({P.KNOWN_ERROR, P.RESOLVED}),
    P.KNOWN_ERROR: frozenset({P.RESOLVED}),
    P.RESOLVED: frozenset({P.CLOSED, P.INVESTIGATING}),
    P.CLOSED: frozenset(),
}

# Problems still being worked: suggested to responders, open to new links.
OPEN_STATUSES = frozenset({P.NEW, P.INVESTIGATING, P.KNOWN_ERROR})


def can_move(current: ProblemStatus, target: ProblemStatus) -> bool:
    return target in TRANSITIONS[current]


def event_type_for(target: ProblemStatus | None) -> str:
    """The event a change emits: entering KNOWN_ERROR or RESOLVED has its own type."""
    if target == P.KNOWN_ERROR:
        return "problem.known_error"
    if target == P.RESOLVED:
        return "problem.resolved"
    return "problem.updated"
