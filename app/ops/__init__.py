"""Operations: what an operator needs to run Tocsin and trust it.

- `metrics`: Prometheus metrics at /metrics — HTTP and GraphQL counters and latencies kept
  in process, and gauges computed from the database at scrape time (`register_gauge`).
- `requests`: the ASGI middleware giving every request an id (X-Request-ID), counting it,
  logging one access line, and closing open WebSockets with 1001 when the server drains.
- `lifecycle`: readiness checks behind /readyz and the hooks run when a server starts to
  drain (before uvicorn closes connections), plus the draining flag /readyz reports.
- `server`: how `tocsin serve` runs uvicorn (graceful shutdown, multi-process checks).
"""
