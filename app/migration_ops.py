"""Migration operations tortoise lacks: `RunSQLPerDialect` runs hand-written SQL chosen by the
database's dialect (full-text tables and triggers differ between SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.migrations.operations import RunSQL

SQL = str | Sequence[str]


class RunSQLPerDialect(RunSQL):
    """`RunSQL` whose statements depend on the dialect ("sqlite", "postgres", ...).

    A dialect that is not listed runs nothing, so a migration stays loadable everywhere.
    """

    def __init__(
        self,
        sql: Mapping[str, SQL],
        reverse_sql: Mapping[str, SQL] | None = None,
        *,
        atomic: bool | None = None,
    ) -> None:
        super().__init__(sql, reverse_sql, atomic=atomic)

    def describe(self) -> str:
        return "Run SQL per dialect"

    async def _run_sql(self, state_editor: Any, sqls: Any) -> None:
        chosen = dict(sqls).get(state_editor.client.capabilities.dialect, ())
        statements = [chosen] if isinstance(chosen, str) else list(chosen)
        for statement in statements:
            # One statement per call, never split on ";" (SQLite's schema editor does that,
            # which breaks trigger bodies).
            if state_editor.collect_sql:
                state_editor.collected_sql.append(statement)
            else:
                await state_editor.client.execute_query(statement)
