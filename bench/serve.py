"""A server under test, in its own process: `python -m bench.serve tocsin|baseline --port P
--database-url URL [--loop asyncio|uvloop]`. Both apps run under the same uvicorn settings
(one process, no access log) so only the application differs."""

from __future__ import annotations

import argparse
import os

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("app", choices=["tocsin", "baseline"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    args = parser.parse_args()
    if args.app == "tocsin":
        from app.asgi import create_app
        from bench.settings import bench_settings

        os.environ.setdefault("TOCSIN_SECRET_KEY", "bench-secret-key-0123456789abcdefghij")
        # The delivery worker and SLA clock stay off: the figures are the API's.
        settings = bench_settings(database_url=args.database_url, worker=False,
                                  sla_clock=False, log_level="WARNING")
        app = create_app(settings)
    else:
        from bench.baseline import create_app as create_baseline

        app = create_baseline(args.database_url)
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop=args.loop, access_log=False,
                log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
