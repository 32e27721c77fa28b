"""The `tocsin` command: serve, worker, migrate, token create, export-schema.

Results (a token, a schema) go to standard output; everything else is logged to standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from app.config import Settings, get_settings

log = logging.getLogger("tocsin")


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "database_url", None):
        # Through the environment, so worker processes started by uvicorn see it too.
        os.environ["TOCSIN_DATABASE_URL"] = args.database_url
    get_settings.cache_clear()
    return get_settings()


async def _migrate(settings: Settings) -> None:
    from app import db

    await db.migrate(settings.database_url)


async def _bootstrap(settings: Settings) -> str | None:
    from app import db
    from app.auth.service import bootstrap_admin
    from app.timesource import utcnow

    await db.init_db(settings.database_url)
    try:
        issued = await bootstrap_admin(now=utcnow())
    finally:
        await db.close_db()
    return issued.token if issued else None


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    asyncio.run(_migrate(settings))
    log.info("database is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from app.ops.server import refusal, serve

    settings = _settings(args)
    refused = refusal(settings, args.workers)
    if refused:
        log.error("%s", refused)
        return 2
    if args.no_worker:
        # Read by the app factory in each process; re-read here too, since one process
        # (--workers 1) builds its app from this process's cached settings.
        os.environ["TOCSIN_WORKER"] = "false"
        get_settings.cache_clear()
        settings = get_settings()
    if not _secrets_ready(settings):
        return 2
    asyncio.run(_migrate(settings))
    token = asyncio.run(_bootstrap(settings))
    if token:
        log.warning("First start: an ADMIN token was created. It is shown once; keep it:")
        print(token, flush=True)
    log.info("serving GraphQL on http://%s:%d/graphql", args.host, args.port)
    serve(settings, host=args.host, port=args.port, workers=args.workers, loop=args.loop)
    return 0


def _secrets_ready(settings: Settings) -> bool:
    from app.notifications.secrets import SecretKeyMissing
    from app.notifications.worker import configure_secrets

    try:
        configure_secrets(settings)
    except SecretKeyMissing as exc:
        log.error("%s", exc)
        return False
    return True


def cmd_worker(args: argparse.Namespace) -> int:
    from app.notifications.worker import run_worker

    settings = _settings(args)
    if not _secrets_ready(settings):
        return 2
    asyncio.run(run_worker(settings))
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from app.auth.models import Role

    settings = _settings(args)
    try:
        role = Role(args.role.upper())
    except ValueError:
        log.error("role must be one of VIEWER, RESPONDER, MANAGER, ADMIN")
        return 2

    async def create() -> str:
        from app import db
        from app.auth.service import create_user_with_token
        from app.timesource import utcnow

        await db.init_db(settings.database_url)
        try:
            issued = await create_user_with_token(args.name, role, now=utcnow())
        finally:
            await db.close_db()
        return issued.token

    from app.errors import DomainError

    asyncio.run(_migrate(settings))
    try:
        token = asyncio.run(create())
    except DomainError as exc:
        log.error("%s", exc.message)
        return 1
    print(token)
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from app.graphql.schema import build_schema

    text = build_schema(Settings(introspection=True)).as_str().rstrip() + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tocsin", description="Tocsin incident management")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", help="overrides TOCSIN_DATABASE_URL")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="migrate, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    # auto = uvloop when installed: in `make bench` ("uvloop vs asyncio") it served more
    # requests at saturation with a lower p99 than asyncio; see README, Performance.
    serve.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto",
                       help="event loop (default auto: uvloop; see README, Performance)")
    serve.add_argument("--no-worker", action="store_true",
                       help="leave the delivery worker out (run `tocsin worker` instead)")
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", parents=[common],
                                 help="run only the delivery worker")
    worker.set_defaults(func=cmd_worker)

    migrate = commands.add_parser("migrate", parents=[common], help="apply migrations")
    migrate.set_defaults(func=cmd_migrate)

    export = commands.add_parser("export-schema", parents=[common], help="print the SDL")
    export.add_argument("--output", help="write to this file instead of standard output")
    export.set_defaults(func=cmd_export_schema)

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser(
        "create", parents=[common], help="create a user and print its first token"
    )
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, help="VIEWER, RESPONDER, MANAGER or ADMIN")
    create.set_defaults(func=cmd_token_create)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from app.logs import setup_logging

    try:
        setup_logging(_settings(args))
    except ValueError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
