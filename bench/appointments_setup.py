"""Data for the appointments benchmarks, written into the benchmark's own database.

Run by bench_api_slots.py / bench_api_booking.py in a subprocess with the server's
environment: `python bench/appointments_setup.py --providers N --patients M`. Creates one
video appointment type, N doctors working Monday to Sunday 08:00-18:00 (Europe/Paris), M
verified patients with an access token each (minted the way the token endpoint does, without
paying the password hash M times), and prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", type=int, default=1)
    parser.add_argument("--patients", type=int, default=50)
    args = parser.parse_args()

    import django

    django.setup()
    from django.utils import timezone

    from accounts.models import ProviderProfile, Role, User
    from accounts.services.tokens import _token_pair_issue
    from appointments.models import AppointmentType, Modality, WeeklyAvailability
    from appointments.selectors import slots_between

    def user(email: str, role: str, name: str) -> User:
        # No password: tokens are minted below, and hashing one per user would cost seconds.
        found, created = User.objects.get_or_create(
            email=email, defaults={"role": role, "full_name": name, "email_verified_at": timezone.now()}
        )
        if created:
            found.set_unusable_password()
            found.save(update_fields=["password"])
        return found

    kind, _ = AppointmentType.objects.get_or_create(
        name="Video consultation",
        defaults={
            "modality": Modality.VIDEO,
            "duration_minutes": 20,
            "buffer_after_minutes": 10,
            "minimum_notice_minutes": 60,
            "booking_horizon_days": 60,
        },
    )
    providers = []
    for index in range(args.providers):
        doctor = user(f"bench.doctor{index}@bench.telemed.test", Role.DOCTOR, f"Dr Bench {index}")
        ProviderProfile.objects.update_or_create(user=doctor, defaults={"time_zone": "Europe/Paris"})
        for weekday in range(7):
            WeeklyAvailability.objects.get_or_create(
                provider=doctor, weekday=weekday, start_time=dt.time(8), end_time=dt.time(18)
            )
        providers.append(doctor.pk)

    tokens = []
    for index in range(args.patients):
        patient = user(f"bench.patient{index}@bench.telemed.test", Role.PATIENT, f"Bench Patient {index}")
        tokens.append(_token_pair_issue(user=patient, device=None).access)

    now = timezone.now()
    slots = slots_between(
        provider_ids=providers, appointment_type=kind, start=now, end=now + dt.timedelta(days=kind.booking_horizon_days)
    )
    json.dump(
        {
            "type": kind.pk,
            "providers": providers,
            "tokens": tokens,
            "slots": [[slot.provider_id, slot.starts_at.isoformat()] for slot in slots],
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
