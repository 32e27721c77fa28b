"""A daily roll-up of the incident metrics, kept by triggers so every write path updates it.

`incident_day_stats` holds, per UTC day, priority and service (service_key 0: no service),
the summable figures of the incidents created that day (count, open now, the sums and counts
behind MTTA/MTTR/MTTD) and of the SLA timers that ended that day (met, ended), grouped by
their incident's current priority and service. `metrics` adds up these rows for the whole days
of its range and reads only the incidents of the (at most two) partial days at its ends, so
its cost follows the number of days, not of incidents.

Triggers on incidents and sla_timers subtract a row's old contribution and add its new one;
when an incident changes priority or service its ended timers move with it. On PostgreSQL the
trigger first takes the event-append advisory lock (see app/events/service.py): writers of
incidents and timers already take it before committing, and taking it before touching a
shared roll-up row means two transactions can never wait on each other's roll-up rows.
"""

from tortoise import migrations

from app.migration_ops import RunSQLPerDialect

EVENT_APPEND_LOCK = 0x70C5_1E00  # app.events.service.EVENT_APPEND_LOCK, frozen here
OPEN = "'NEW', 'ACKNOWLEDGED', 'IN_PROGRESS', 'ON_HOLD'"
ENDED = "'MET', 'BREACHED'"
COLUMNS = ("n", "open_n", "ack_sum", "ack_n", "res_sum", "res_n", "detect_sum", "met",
           "ended")
UPSERT = (" ON CONFLICT (day, priority, service_key) DO UPDATE SET "
          + ", ".join(f"{c} = incident_day_stats.{c} + excluded.{c}" for c in COLUMNS))


# --- SQLite ------------------------------------------------------------------------------

def _sqlite_seconds(later: str, earlier: str) -> str:
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _sqlite_incident(row: str, sign: str) -> str:
    """INSERT adding `sign` times the contribution of incident `row` (NEW or OLD)."""
    r = row
    return (
        "INSERT INTO incident_day_stats (day, priority, service_key, n, open_n, ack_sum, ack_n,"
        " res_sum, res_n, detect_sum) VALUES ("
        f"date({r}.created_at), {r}.priority, coalesce({r}.service_id, 0), {sign}1,"
        f" {sign}({r}.status IN ({OPEN})),"
        f" {sign}coalesce({_sqlite_seconds(f'{r}.acknowledged_at', f'{r}.created_at')}, 0),"
        f" {sign}({r}.acknowledged_at IS NOT NULL),"
        f" {sign}coalesce({_sqlite_seconds(f'{r}.resolved_at', f'{r}.created_at')}, 0),"
        f" {sign}({r}.resolved_at IS NOT NULL),"
        f" {sign}coalesce({_sqlite_seconds(f'{r}.created_at', f'{r}.started_at')}, 0))"
        + UPSERT + ";"
    )


def _sqlite_incident_timers(row: str, sign: str, when: str = "1") -> str:
    """INSERT adding `sign` times the ended timers of incident `row`, under its key."""
    return (
        "INSERT INTO incident_day_stats (day, priority, service_key, met, ended)"
        f" SELECT date(t.stopped_at), {row}.priority, coalesce({row}.service_id, 0),"
        f" {sign}SUM(t.state = 'MET'), {sign}COUNT(*) FROM sla_timers t"
        f" WHERE t.incident_id = {row}.id AND t.state IN ({ENDED})"
        f" AND t.stopped_at IS NOT NULL AND ({when}) GROUP BY date(t.stopped_at)"
        + UPSERT + ";"
    )


def _sqlite_timer(row: str, sign: str) -> str:
    """INSERT adding `sign` times timer `row`, under its incident's current key."""
    return (
        "INSERT INTO incident_day_stats (day, priority, service_key, met, ended)"
        f" SELECT date({row}.stopped_at), i.priority, coalesce(i.service_id, 0),"
        f" {sign}({row}.state = 'MET'), {sign}1 FROM incidents i"
        f" WHERE i.id = {row}.incident_id AND {row}.state IN ({ENDED})"
        f" AND {row}.stopped_at IS NOT NULL"
        + UPSERT + ";"
    )


_INCIDENT_CHANGED = " OR ".join(
    f"OLD.{c} IS NOT NEW.{c}" for c in (
        "created_at", "started_at", "status", "priority", "service_id", "acknowledged_at",
        "resolved_at"))
_KEY_CHANGED = "OLD.priority IS NOT NEW.priority OR OLD.service_id IS NOT NEW.service_id"
_TIMER_CHANGED = ("OLD.state IS NOT NEW.state OR OLD.stopped_at IS NOT NEW.stopped_at"
                  " OR OLD.incident_id IS NOT NEW.incident_id")

_SQLITE_TABLE = (
    "CREATE TABLE incident_day_stats (day TEXT NOT NULL, priority VARCHAR(2) NOT NULL,"
    " service_key INT NOT NULL, n INT NOT NULL DEFAULT 0, open_n INT NOT NULL DEFAULT 0,"
    " ack_sum REAL NOT NULL DEFAULT 0, ack_n INT NOT NULL DEFAULT 0,"
    " res_sum REAL NOT NULL DEFAULT 0, res_n INT NOT NULL DEFAULT 0,"
    " detect_sum REAL NOT NULL DEFAULT 0, met INT NOT NULL DEFAULT 0,"
    " ended INT NOT NULL DEFAULT 0, PRIMARY KEY (day, priority, service_key)) WITHOUT ROWID"
)

SQLITE = [
    _SQLITE_TABLE,
    # Covering, in (priority, service) order: `metrics` sums a range of days per priority and
    # service by skipping through it, without sorting the rows of every day in range.
    "CREATE INDEX incident_day_stats_groups ON incident_day_stats (priority, service_key, day,"
    f" {', '.join(COLUMNS)})",
    # SQLite only skips through an index's leading columns when its statistics say they
    # repeat; nothing runs ANALYZE by itself, so record the table's shape (documented as
    # settable by applications; a later ANALYZE replaces it with measured figures).
    "ANALYZE incident_day_stats",
    "DELETE FROM sqlite_stat1 WHERE tbl = 'incident_day_stats'",
    "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('incident_day_stats',"
    f" 'incident_day_stats_groups', '100000 20000 1000{' 1' * (1 + len(COLUMNS))}')",
    "CREATE TRIGGER incident_day_stats_insert AFTER INSERT ON incidents BEGIN "
    + _sqlite_incident("NEW", "+") + " END",
    f"CREATE TRIGGER incident_day_stats_update AFTER UPDATE ON incidents"
    f" WHEN {_INCIDENT_CHANGED} BEGIN "
    + _sqlite_incident("OLD", "-") + " " + _sqlite_incident("NEW", "+") + " "
    + _sqlite_incident_timers("OLD", "-", _KEY_CHANGED) + " "
    + _sqlite_incident_timers("NEW", "+", _KEY_CHANGED) + " END",
    # Before the row goes: its timers are still there to be subtracted (a cascade deletes them
    # once the incident is gone, when the timer trigger no longer finds it).
    "CREATE TRIGGER incident_day_stats_delete BEFORE DELETE ON incidents BEGIN "
    + _sqlite_incident("OLD", "-") + " " + _sqlite_incident_timers("OLD", "-") + " END",
    "CREATE TRIGGER incident_day_stats_timer_insert AFTER INSERT ON sla_timers BEGIN "
    + _sqlite_timer("NEW", "+") + " END",
    f"CREATE TRIGGER incident_day_stats_timer_update AFTER UPDATE ON sla_timers"
    f" WHEN {_TIMER_CHANGED} BEGIN "
    + _sqlite_timer("OLD", "-") + " " + _sqlite_timer("NEW", "+") + " END",
    "CREATE TRIGGER incident_day_stats_timer_delete AFTER DELETE ON sla_timers BEGIN "
    + _sqlite_timer("OLD", "-") + " END",
]

# What existed before this migration (also run by tests on a roll-up they emptied).
SQLITE_BACKFILL = [
    "INSERT INTO incident_day_stats (day, priority, service_key, n, open_n, ack_sum, ack_n,"
    " res_sum, res_n, detect_sum)"
    " SELECT date(created_at), priority, coalesce(service_id, 0), COUNT(*),"
    f" SUM(status IN ({OPEN})),"
    f" coalesce(SUM({_sqlite_seconds('acknowledged_at', 'created_at')}), 0),"
    " COUNT(acknowledged_at),"
    f" coalesce(SUM({_sqlite_seconds('resolved_at', 'created_at')}), 0), COUNT(resolved_at),"
    f" coalesce(SUM({_sqlite_seconds('created_at', 'started_at')}), 0)"
    " FROM incidents WHERE 1 GROUP BY 1, 2, 3" + UPSERT,
    "INSERT INTO incident_day_stats (day, priority, service_key, met, ended)"
    " SELECT date(t.stopped_at), i.priority, coalesce(i.service_id, 0),"
    " SUM(t.state = 'MET'), COUNT(*) FROM sla_timers t JOIN incidents i ON i.id = t.incident_id"
    f" WHERE t.state IN ({ENDED}) AND t.stopped_at IS NOT NULL GROUP BY 1, 2, 3" + UPSERT,
]

SQLITE_REVERSE = [
    "DELETE FROM sqlite_stat1 WHERE tbl = 'incident_day_stats'",
    *(f"DROP TRIGGER incident_day_stats_{name}" for name in (
        "insert", "update", "delete", "timer_insert", "timer_update", "timer_delete")),
    "DROP TABLE incident_day_stats",
]


# --- PostgreSQL --------------------------------------------------------------------------

def _pg_seconds(later: str, earlier: str) -> str:
    return f"date_part('epoch', {later} - {earlier})"


def _pg_day(column: str) -> str:
    return f"({column} AT TIME ZONE 'UTC')::date"


def _pg_incident(row: str, sign: str) -> str:
    r = row
    return (
        "INSERT INTO incident_day_stats (day, priority, service_key, n, open_n, ack_sum, ack_n,"
        " res_sum, res_n, detect_sum) VALUES ("
        f"{_pg_day(f'{r}.created_at')}, {r}.priority, coalesce({r}.service_id, 0), {sign}1,"
        f" {sign}({r}.status IN ({OPEN}))::int,"
        f" {sign}coalesce({_pg_seconds(f'{r}.acknowledged_at', f'{r}.created_at')}, 0),"
        f" {sign}({r}.acknowledged_at IS NOT NULL)::int,"
        f" {sign}coalesce({_pg_seconds(f'{r}.resolved_at', f'{r}.created_at')}, 0),"
        f" {sign}({r}.resolved_at IS NOT NULL)::int,"
        f" {sign}coalesce({_pg_seconds(f'{r}.created_at', f'{r}.started_at')}, 0))"
        + UPSERT + ";"
    )


def _pg_incident_timers(row: str, sign: str) -> str:
    day = _pg_day("t.stopped_at")
    return (
        "INSERT INTO incident_day_stats (day, priority, service_key, met, ended)"
        f" SELECT {day}, {row}.priority, coalesce({row}.service_id, 0),"
        f" {sign}(COUNT(*) FILTER (WHERE t.state = 'MET')), {sign}COUNT(*) FROM sla_timers t"
        f" WHERE t.incident_id = {row}.id AND t.state IN ({ENDED})"
        f" AND t.stopped_at IS NOT NULL GROUP BY {day}"
        + UPSERT + ";"
    )


def _pg_timer(row: str, sign: str) -> str:
    return (
        f"IF {row}.state IN ({ENDED}) AND {row}.stopped_at IS NOT NULL THEN"
        " INSERT INTO incident_day_stats (day, priority, service_key, met, ended)"
        f" SELECT {_pg_day(f'{row}.stopped_at')}, i.priority, coalesce(i.service_id, 0),"
        f" {sign}({row}.state = 'MET')::int, {sign}1 FROM incidents i"
        f" WHERE i.id = {row}.incident_id" + UPSERT + "; END IF;"
    )


_LOCK = f"PERFORM pg_advisory_xact_lock({EVENT_APPEND_LOCK});"
_PG_KEY_CHANGED = ("OLD.priority IS DISTINCT FROM NEW.priority"
                   " OR OLD.service_id IS DISTINCT FROM NEW.service_id")

POSTGRES = [
    "CREATE TABLE incident_day_stats (day DATE NOT NULL, priority VARCHAR(2) NOT NULL,"
    " service_key INT NOT NULL, n INT NOT NULL DEFAULT 0, open_n INT NOT NULL DEFAULT 0,"
    " ack_sum DOUBLE PRECISION NOT NULL DEFAULT 0, ack_n INT NOT NULL DEFAULT 0,"
    " res_sum DOUBLE PRECISION NOT NULL DEFAULT 0, res_n INT NOT NULL DEFAULT 0,"
    " detect_sum DOUBLE PRECISION NOT NULL DEFAULT 0, met INT NOT NULL DEFAULT 0,"
    " ended INT NOT NULL DEFAULT 0, PRIMARY KEY (day, priority, service_key))",
    "CREATE INDEX incident_day_stats_service ON incident_day_stats (service_key, day)",
    "CREATE FUNCTION incident_day_stats_incidents() RETURNS trigger LANGUAGE plpgsql AS $$"
    f" BEGIN {_LOCK}"
    " IF TG_OP = 'INSERT' THEN " + _pg_incident("NEW", "+") +
    " ELSIF TG_OP = 'UPDATE' THEN " + _pg_incident("OLD", "-") + _pg_incident("NEW", "+") +
    f" IF {_PG_KEY_CHANGED} THEN " + _pg_incident_timers("OLD", "-")
    + _pg_incident_timers("NEW", "+") + " END IF;"
    # BEFORE DELETE: the timers are still there (the cascade removes them afterwards, when
    # the timer trigger no longer finds their incident).
    " ELSE " + _pg_incident("OLD", "-") + _pg_incident_timers("OLD", "-") + " RETURN OLD;"
    " END IF; RETURN NULL; END $$",
    "CREATE FUNCTION incident_day_stats_timers() RETURNS trigger LANGUAGE plpgsql AS $$"
    f" BEGIN {_LOCK}"
    " IF TG_OP IN ('UPDATE', 'DELETE') THEN " + _pg_timer("OLD", "-") + " END IF;"
    " IF TG_OP IN ('INSERT', 'UPDATE') THEN " + _pg_timer("NEW", "+") + " END IF;"
    " RETURN NULL; END $$",
    "CREATE TRIGGER incident_day_stats_insert AFTER INSERT ON incidents"
    " FOR EACH ROW EXECUTE FUNCTION incident_day_stats_incidents()",
    "CREATE TRIGGER incident_day_stats_update AFTER UPDATE ON incidents FOR EACH ROW WHEN ("
    + " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in (
        "created_at", "started_at", "status", "priority", "service_id", "acknowledged_at",
        "resolved_at"))
    + ") EXECUTE FUNCTION incident_day_stats_incidents()",
    "CREATE TRIGGER incident_day_stats_delete BEFORE DELETE ON incidents"
    " FOR EACH ROW EXECUTE FUNCTION incident_day_stats_incidents()",
    "CREATE TRIGGER incident_day_stats_timer_insert AFTER INSERT ON sla_timers"
    " FOR EACH ROW EXECUTE FUNCTION incident_day_stats_timers()",
    "CREATE TRIGGER incident_day_stats_timer_update AFTER UPDATE ON sla_timers FOR EACH ROW"
    " WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.stopped_at IS DISTINCT FROM"
    " NEW.stopped_at OR OLD.incident_id IS DISTINCT FROM NEW.incident_id)"
    " EXECUTE FUNCTION incident_day_stats_timers()",
    "CREATE TRIGGER incident_day_stats_timer_delete AFTER DELETE ON sla_timers"
    " FOR EACH ROW EXECUTE FUNCTION incident_day_stats_timers()",
]

POSTGRES_BACKFILL = [
    "INSERT INTO incident_day_stats (day, priority, service_key, n, open_n, ack_sum, ack_n,"
    " res_sum, res_n, detect_sum)"
    f" SELECT {_pg_day('created_at')}, priority, coalesce(service_id, 0), COUNT(*),"
    f" COUNT(*) FILTER (WHERE status IN ({OPEN})),"
    f" coalesce(SUM({_pg_seconds('acknowledged_at', 'created_at')}), 0),"
    " COUNT(acknowledged_at),"
    f" coalesce(SUM({_pg_seconds('resolved_at', 'created_at')}), 0), COUNT(resolved_at),"
    f" coalesce(SUM({_pg_seconds('created_at', 'started_at')}), 0)"
    " FROM incidents GROUP BY 1, 2, 3" + UPSERT,
    "INSERT INTO incident_day_stats (day, priority, service_key, met, ended)"
    f" SELECT {_pg_day('t.stopped_at')}, i.priority, coalesce(i.service_id, 0),"
    " COUNT(*) FILTER (WHERE t.state = 'MET'), COUNT(*)"
    " FROM sla_timers t JOIN incidents i ON i.id = t.incident_id"
    f" WHERE t.state IN ({ENDED}) AND t.stopped_at IS NOT NULL GROUP BY 1, 2, 3" + UPSERT,
]

POSTGRES_REVERSE = [
    *(f"DROP TRIGGER incident_day_stats_{name} ON {table}" for name, table in (
        ("insert", "incidents"), ("update", "incidents"), ("delete", "incidents"),
        ("timer_insert", "sla_timers"), ("timer_update", "sla_timers"),
        ("timer_delete", "sla_timers"))),
    "DROP FUNCTION incident_day_stats_incidents()",
    "DROP FUNCTION incident_day_stats_timers()",
    "DROP TABLE incident_day_stats",
]


class Migration(migrations.Migration):
    dependencies = [("models", "0009_metrics")]

    initial = False

    operations = [
        RunSQLPerDialect(
            {"sqlite": SQLITE + SQLITE_BACKFILL, "postgres": POSTGRES + POSTGRES_BACKFILL},
            reverse_sql={"sqlite": SQLITE_REVERSE, "postgres": POSTGRES_REVERSE},
        ),
    ]
