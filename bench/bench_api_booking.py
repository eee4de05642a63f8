"""Booking over the API under contention: many concurrent clients, every slot wanted twice.

Starts its own daphne processes on 127.0.0.1 (DEBUG=0) against a fresh database (PostgreSQL
+ Redis when they answer locally, else SQLite), creates doctors working 08:00-18:00 every day
and one patient (with a JWT) per client. The clients take free slots from one shared queue in
which each slot appears twice in a row, so two clients race for each: one gets 201, the other
the expected 409 (slot_taken). `POST /api/v1/appointments/` books through the full service:
calendar lock, checks, insert under the exclusion constraint, care relationship, audit event,
confirmation, reminders and provider notice in the outbox. Latency is of every answer (201 and
409); `errors` counts anything else. Afterwards it checks in the database that no provider
has two overlapping active appointments (`double_booked`, must be 0).

    python bench/bench_api_booking.py [--clients 50] [--duration 30] [--servers 2] [--providers 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import httpx
from common import (
    ROOT,
    backends_label,
    daphne_servers,
    load_arguments,
    measured_load,
    prepared,
    print_per_database,
    setup_appointments,
)

DOUBLE_BOOKED = """
import django, json
django.setup()
from django.db.models import Exists, F, OuterRef
from appointments.models import Appointment
active = Appointment.objects.filter(status__in=Appointment.ACTIVE_STATUSES)
overlapping = active.filter(
    Exists(active.filter(provider=OuterRef("provider"), blocked_from__lt=OuterRef("blocked_until"),
                         blocked_until__gt=OuterRef("blocked_from")).exclude(pk=OuterRef("pk")))
)
print(json.dumps({"double_booked": overlapping.count(), "booked": active.count()}))
"""


def run(database: str, args: argparse.Namespace) -> dict:
    setup_started = time.perf_counter()
    with prepared(database, API_THROTTLE_USER="1000000/min") as env:
        data = setup_appointments(env, providers=args.providers, patients=args.clients)
        # Each slot twice in a row: two clients race for it. Interleave providers so that
        # consecutive slots are different doctors' (the contention is per slot, not per doctor).
        slots = sorted(data["slots"], key=lambda slot: (slot[1], slot[0]))
        queue = [slot for slot in slots for _ in range(2)]
        headers = [{"Authorization": f"Bearer {token}"} for token in data["tokens"]]
        codes: dict[str, int] = {}
        position = 0

        async def book(client: httpx.AsyncClient, index: int, turn: int) -> int:
            nonlocal position
            if position >= len(queue):
                raise SystemExit("the benchmark ran out of free slots: add --providers")
            provider, starts_at = queue[position]
            position += 1
            response = await client.post(
                "/api/v1/appointments/",
                json={"provider": provider, "type": data["type"], "starts_at": starts_at, "reason": "Benchmark"},
                headers=headers[index % len(headers)],
            )
            if response.status_code != 201:
                code = (
                    response.json().get("code", "?")
                    if response.headers.get("content-type", "").startswith("application/json")
                    else "?"
                )
                codes[f"{response.status_code} {code}"] = codes.get(f"{response.status_code} {code}", 0) + 1
            return response.status_code

        with daphne_servers(env, args.servers) as servers:
            setup_ms = round((time.perf_counter() - setup_started) * 1000)
            load = measured_load(servers, args.clients, args.duration, book)
        check = subprocess.run(
            [sys.executable, "-c", DOUBLE_BOOKED],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "telemed.settings", "PYTHONPATH": str(ROOT)},
            check=True,
            stdout=subprocess.PIPE,
            text=True,
            timeout=120,
        )
        verdict = json.loads(check.stdout)

    outcomes = load.outcomes
    booked = outcomes.by_status.get(201, 0)
    conflicts = outcomes.by_status.get(409, 0)
    return {
        "bench": "api_booking",
        "config": {
            "clients": args.clients,
            "duration_s": args.duration,
            "server": f"daphne, {args.servers} processes",
            "backends": backends_label(database),
            "providers": args.providers,
            "contention": "every slot requested by two clients",
        },
        "cores": os.cpu_count(),
        "requests": booked + conflicts,
        "rps": round((booked + conflicts) / load.elapsed, 1),
        **load.figures,
        "booked": booked,
        "conflicts_409": conflicts,
        "errors": outcomes.transport_errors + sum(n for s, n in outcomes.by_status.items() if s not in (201, 409)),
        "answers_other_than_201": codes,
        "booked_in_database": verdict["booked"],
        "double_booked": verdict["double_booked"],
        "setup_ms": setup_ms,
    }


def main() -> int:
    parser = load_arguments(__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=5)
    args = parser.parse_args()
    return print_per_database(args, run, lambda result: result["booked"] > 0 and result["double_booked"] == 0)


if __name__ == "__main__":
    sys.exit(main())
