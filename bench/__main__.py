"""`make bench`: run every benchmark module and print one table of figures and ratios
(bench/results/latest.json holds the same rows). TOCSIN_BENCH_FULL=1 runs the full scales."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench import (
    abuse,
    api,
    deliveries,
    fanout,
    known_errors,
    metrics,
    ops_gauges,
    ops_overhead,
    sla_clock,
)


async def measure() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rows += await api.run()
    rows += await deliveries.run()
    rows += await sla_clock.run()
    rows += await fanout.run()
    rows += await known_errors.run()
    rows += await metrics.run()
    rows += await ops_overhead.run()
    rows += await ops_gauges.run()
    rows += await abuse.run()
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _latency(row: dict[str, Any]) -> str:
    if "p50_ms" not in row:
        return ""
    return (f"{_ms(row['p50_ms'])}/{_ms(row['p99_ms'])} | "
            f"{_ms(row['baseline_p50_ms'])}/{_ms(row['baseline_p99_ms'])}")


def table(rows: list[dict[str, Any]]) -> str:
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'benchmark'.ljust(width)}  {'figure':>10}  {'baseline':>10}  {'ratio':>6}  "
             f"{'p50/p99 ms (ours | baseline)':<30}  unit"]
    for r in rows:
        if r["figure"] is None or r["baseline"] is None or r["ratio"] is None:
            lines.append(f"{r['name'].ljust(width)}  {'-':>10}  {'-':>10}  {'-':>6}  {r['unit']}")
            continue
        lines.append(f"{r['name'].ljust(width)}  {r['figure']:>10.1f}  {r['baseline']:>10.1f}  "
                     f"{r['ratio']:>6.2f}  {_latency(r):<30}  {r['unit']}")
    return "\n".join(lines)


def main() -> None:
    started = time.monotonic()
    rows = asyncio.run(measure())
    print(table(rows))
    print(f"\n({time.monotonic() - started:.0f} s)")
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
