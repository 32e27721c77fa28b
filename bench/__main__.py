"""`make bench`: run every benchmark module and print one table of figures and ratios."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bench import (
    abuse,
    deliveries,
    fanout,
    known_errors,
    list_read,
    metrics,
    ops_overhead,
    sla_clock,
)


async def measure() -> list[dict]:
    rows: list[dict] = []
    rows += await list_read.run()
    rows += await deliveries.run()
    rows += await sla_clock.run()
    rows += await fanout.run()
    rows += await known_errors.run()
    rows += await metrics.run()
    rows += await ops_overhead.run()
    rows += await abuse.run()
    return rows


def main() -> None:
    rows = asyncio.run(measure())
    width = max(len(r["name"]) for r in rows)
    print(f"{'benchmark'.ljust(width)}  {'figure':>14}  {'baseline':>14}  {'ratio':>6}")
    for r in rows:
        print(f"{r['name'].ljust(width)}  {r['figure']:>14.1f}  {r['baseline']:>14.1f}  "
              f"{r['ratio']:>6.2f}   {r['unit']}")
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
