"""Fixtures of the accounts tests: OTP-verified staff logins."""

import pytest

from accounts.tests.factories import otp_force_login, otp_verified_user


@pytest.fixture
def otp_client(client):
    """`otp_client(user)`: the test client signed in as `user` with an OTP-verified session."""

    def login(user):
        return otp_force_login(client, user)

    return login


@pytest.fixture
def verified():
    """`verified(user)`: `user` as django-otp presents an OTP-verified login."""
    return otp_verified_user
