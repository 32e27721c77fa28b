"""Text similarity for problems, without a database: titles are normalised to sets of
meaningful words (lower case; numbers, ids, punctuation and stop words dropped; a plural "s"
folded), and compared by word overlap. Used to group recurring incidents into candidates and
to rank open problems against an incident."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"[^\W\d_]+")  # letters only: digits, ids like "db-01" or "0x1f" fall apart

STOP_WORDS = frozenset(
    """a an and are as at be by can cannot could did do does down for from had has have in
    into is it its no not of on or our out over the their then there this to too up was we
    were when while will with""".split()
)


def _fold(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str | None) -> frozenset[str]:
    """The meaningful words of a text: "DB-01 timeouts on node 7!" -> {"db", "timeout", "node"}."""
    if not text:
        return frozenset()
    found = (_fold(w) for w in _WORD.findall(text.lower()))
    return frozenset(w for w in found if len(w) > 1 and w not in STOP_WORDS)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def problem_score(
    incident_title: str, incident_description: str | None, problem_texts: Iterable[str | None],
    problem_title: str,
) -> float:
    """How well an open problem fits an incident; 0 means no shared word at all.

    Title against title counts twice (titles say what is wrong), and every word of the
    incident's title and description is looked for in everything the problem says (title,
    description, root cause, workaround); both as overlap ratios so long texts do not win
    by length alone.
    """
    incident_title_words = words(incident_title)
    incident_words = incident_title_words | words(incident_description)
    problem_words: frozenset[str] = frozenset().union(*(words(t) for t in problem_texts))
    title_part = jaccard(incident_title_words, words(problem_title))
    if not incident_words:
        return 0.0
    coverage = len(incident_words & problem_words) / len(incident_words)
    return 2 * title_part + coverage
