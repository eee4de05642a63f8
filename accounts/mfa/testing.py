"""Test support: an enrolled authenticator, its current (or next unused) code, and a verified test-client login."""

from __future__ import annotations

import datetime as dt
import time

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_device_enrol(user) -> TOTPDevice:
    """A confirmed authenticator for `user` (as if set up through the setup page)."""
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def totp_code(device: TOTPDevice) -> str:
    """The code the user's app shows right now (respects time-machine)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def totp_code_unused(device: TOTPDevice) -> str:
    """A code the device will still accept, for a live server running on the real clock.

    django-otp accepts each time step once (`last_t`): when the current 30 s step was already
    spent, say by a second sign-in within one step, this waits for the next step.
    """
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    while totp.t() <= device.last_t:
        time.sleep(device.step - (time.time() - device.t0) % device.step + 0.05)
    return totp_code(device)


def otp_force_login(client: Client, user, device: TOTPDevice | None = None) -> TOTPDevice:
    """`client.force_login(user)` with the session already OTP-verified (what the challenge step does)."""
    device = device or TOTPDevice.objects.filter(user=user, confirmed=True).first() or totp_device_enrol(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def totp_step_start() -> dt.datetime:
    """One second into the current 30 s TOTP step (never later than now): a fixed, recent time for
    time-machine, so a code stays valid for the next few (frozen) seconds and sessions saved then
    have not expired. Never in the future: a token issued then would carry an ``iat`` PyJWT
    refuses as "not yet valid" once the clock runs again."""
    now = int(time.time())
    return dt.datetime.fromtimestamp(min(now - now % 30 + 1, now), tz=dt.UTC)
