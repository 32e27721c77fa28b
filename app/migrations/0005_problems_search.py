"""Full-text search over problems (for `knownErrors`): an FTS5 table kept in sync by triggers
on SQLite; a generated, weighted tsvector column with a GIN index on PostgreSQL."""

from tortoise import migrations

from app.migration_ops import RunSQLPerDialect

_FTS_COLUMNS = "title, description, root_cause, workaround"
_NEW = "new.title, new.description, new.root_cause, new.workaround"
_OLD = "old.title, old.description, old.root_cause, old.workaround"

SQLITE = [
    f"CREATE VIRTUAL TABLE problems_fts USING fts5({_FTS_COLUMNS}, content='problems',"
    " content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER problems_fts_insert AFTER INSERT ON problems BEGIN"
    f" INSERT INTO problems_fts(rowid, {_FTS_COLUMNS}) VALUES (new.id, {_NEW}); END",
    "CREATE TRIGGER problems_fts_delete AFTER DELETE ON problems BEGIN"
    f" INSERT INTO problems_fts(problems_fts, rowid, {_FTS_COLUMNS})"
    f" VALUES ('delete', old.id, {_OLD}); END",
    "CREATE TRIGGER problems_fts_update AFTER UPDATE ON problems BEGIN"
    f" INSERT INTO problems_fts(problems_fts, rowid, {_FTS_COLUMNS})"
    f" VALUES ('delete', old.id, {_OLD});"
    f" INSERT INTO problems_fts(rowid, {_FTS_COLUMNS}) VALUES (new.id, {_NEW}); END",
    # Problems that existed before this migration.
    f"INSERT INTO problems_fts(rowid, {_FTS_COLUMNS}) SELECT id, {_FTS_COLUMNS} FROM problems",
]

POSTGRES = [
    "ALTER TABLE problems ADD COLUMN search_document tsvector GENERATED ALWAYS AS ("
    " setweight(to_tsvector('english', coalesce(title, '')), 'A')"
    " || setweight(to_tsvector('english', coalesce(root_cause, '')), 'B')"
    " || setweight(to_tsvector('english', coalesce(workaround, '')), 'B')"
    " || setweight(to_tsvector('english', coalesce(description, '')), 'C')) STORED",
    "CREATE INDEX problems_search_document ON problems USING GIN (search_document)",
]


class Migration(migrations.Migration):
    dependencies = [("models", "0004_problems")]

    initial = False

    operations = [
        RunSQLPerDialect(
            {"sqlite": SQLITE, "postgres": POSTGRES},
            reverse_sql={
                "sqlite": [
                    "DROP TRIGGER problems_fts_insert",
                    "DROP TRIGGER problems_fts_delete",
                    "DROP TRIGGER problems_fts_update",
                    "DROP TABLE problems_fts",
                ],
                "postgres": [
                    "DROP INDEX problems_search_document",
                    "ALTER TABLE problems DROP COLUMN search_document",
                ],
            },
        ),
    ]
