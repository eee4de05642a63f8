"""HTTP throughput and latency of /healthz and /readyz under daphne on the embedded defaults.

Starts its own daphne on a free 127.0.0.1 port (DEBUG=0, SQLite, in-memory channel layer,
filesystem broker, local files) in a temporary TELEMED_VAR_DIR, drives both endpoints with
N concurrent keep-alive clients for a bounded time, prints one JSON line, stops the server.

    python bench/bench_http_health.py [--clients 16] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

import httpx
from common import closed_loop, daphne_servers, latency_figures, manage, server_env

PATHS = ("/healthz", "/readyz")


async def _get(client: httpx.AsyncClient, index: int, turn: int) -> int:
    return (await client.get(PATHS[(index + turn) % len(PATHS)])).status_code


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="telemed-bench-") as var_dir:
        env = server_env(var_dir)
        setup_started = time.perf_counter()
        manage(env, "migrate", "--noinput", timeout=120)
        with daphne_servers(env, 1) as servers:
            setup_ms = round((time.perf_counter() - setup_started) * 1000)
            outcomes, elapsed = asyncio.run(closed_loop(servers.bases, args.clients, args.duration, _get))
            memory = servers.rss_mb()

    ok = outcomes.by_status.get(200, 0)
    errors = outcomes.transport_errors + sum(n for status, n in outcomes.by_status.items() if status != 200)
    print(
        json.dumps(
            {
                "bench": "http_health",
                "config": {
                    "paths": list(PATHS),
                    "clients": args.clients,
                    "duration_s": args.duration,
                    "server": "daphne, 1 process",
                    "backends": "embedded (sqlite, in-memory channel layer, filesystem broker, local files)",
                },
                "cores": os.cpu_count(),
                "requests": ok,
                "rps": round(ok / elapsed, 1),
                **latency_figures(outcomes.latencies_ms),
                "errors": errors,
                "rss_mb": memory,
                "setup_ms": setup_ms,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
