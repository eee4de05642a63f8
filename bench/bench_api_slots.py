"""Authenticated slot search over the API: one provider, 14 days, many concurrent clients.

Starts its own daphne processes on 127.0.0.1 (DEBUG=0) against a fresh database (PostgreSQL
+ Redis when they answer locally, else SQLite), creates a doctor working 08:00-18:00 every day
and one patient (with a JWT) per client, then each client repeats
`GET /api/v1/slots/?provider=…&type=…&from=<today>&to=<today+13>&tz=Europe/Paris` for the
duration. Prints one JSON line per database.

    python bench/bench_api_slots.py [--clients 50] [--duration 30] [--servers 2] [--database auto|sqlite|postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import zoneinfo

import httpx
from common import (
    backends_label,
    daphne_servers,
    load_arguments,
    measured_load,
    prepared,
    print_per_database,
    setup_appointments,
)


def run(database: str, args: argparse.Namespace) -> dict:
    setup_started = time.perf_counter()
    # The per-user API throttle (600/min) would turn this load into 429s; it still runs.
    with prepared(database, API_THROTTLE_USER="1000000/min") as env:
        data = setup_appointments(env, providers=1, patients=args.clients)
        today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Paris")).date()
        query = {
            "provider": data["providers"][0],
            "type": data["type"],
            "from": today.isoformat(),
            "to": (today + dt.timedelta(days=13)).isoformat(),
            "tz": "Europe/Paris",
        }
        headers = [{"Authorization": f"Bearer {token}"} for token in data["tokens"]]
        slot_counts: list[int] = []

        async def search(client: httpx.AsyncClient, index: int, turn: int) -> int:
            response = await client.get("/api/v1/slots/", params=query, headers=headers[index % len(headers)])
            if response.status_code == 200 and turn == 0:
                slot_counts.append(len(response.json()["slots"]))
            return response.status_code

        with daphne_servers(env, args.servers) as servers:
            setup_ms = round((time.perf_counter() - setup_started) * 1000)
            load = measured_load(servers, args.clients, args.duration, search)

    outcomes = load.outcomes
    ok = outcomes.by_status.get(200, 0)
    return {
        "bench": "api_slots",
        "config": {
            "clients": args.clients,
            "duration_s": args.duration,
            "server": f"daphne, {args.servers} processes",
            "backends": backends_label(database),
            "query": "1 provider, 14 days, 20-min video type, 08:00-18:00 daily",
        },
        "cores": os.cpu_count(),
        "requests": ok,
        "rps": round(ok / load.elapsed, 1),
        **load.figures,
        "errors": outcomes.transport_errors + sum(n for status, n in outcomes.by_status.items() if status != 200),
        "statuses": {str(status): n for status, n in sorted(outcomes.by_status.items())},
        "slots_per_response": slot_counts[0] if slot_counts else 0,
        "setup_ms": setup_ms,
    }


def main() -> int:
    args = load_arguments(__doc__.splitlines()[0]).parse_args()
    return print_per_database(args, run, lambda result: result["requests"] > 0)


if __name__ == "__main__":
    sys.exit(main())
