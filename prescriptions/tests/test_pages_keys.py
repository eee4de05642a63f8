"""The prescriber's signing key page (/prescriptions/keys/), rotation, and the fingerprint on the profile."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.mfa.testing import otp_force_login
from audit.models import AuditEvent
from prescriptions.models import PrescriberKey
from prescriptions.services.keys import prescriber_key_ensure
from prescriptions.signing import fingerprint_for_display

pytestmark = pytest.mark.django_db

URL = "/prescriptions/keys/"
ROTATE = "/prescriptions/keys/rotate/"


def text(response) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_the_urls_are_named_keys_and_key_rotate():
    assert reverse("prescriptions:keys") == URL
    assert reverse("prescriptions:key_rotate") == ROTATE


def test_a_doctor_sees_the_public_half_of_their_key_and_never_the_private_one(client, prescriber):
    key = prescriber_key_ensure(actor=prescriber)
    otp_force_login(client, prescriber)

    response = client.get(URL)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = text(response)
    assert f"Fingerprint {fingerprint_for_display(key.fingerprint)}" in body
    assert f"Public key {key.public_key}" in body
    assert "Created " in body
    assert "Rotate my signing key" in body
    assert "Prescriptions already signed with this key stay valid" in body
    assert key.private_key not in response.content.decode()


def test_before_the_first_signature_the_page_says_so_and_can_make_the_key_now(client, prescriber):
    otp_force_login(client, prescriber)

    before = text(client.get(URL))
    made = client.post(URL)

    assert "Your key is made when you sign your first prescription." in before
    assert "Create my signing key" in before
    assert made.status_code == 302 and made["Location"] == URL
    key = PrescriberKey.objects.get(prescriber=prescriber)
    after = text(client.get(URL))
    assert f"Your signing key is ready: fingerprint {fingerprint_for_display(key.fingerprint)}." in after
    assert "Rotate my signing key" in after
    assert AuditEvent.objects.filter(action="prescriptions.key.create", actor=prescriber, outcome="success").exists()


def test_rotation_retires_the_old_key_and_what_it_signed_still_verifies_valid(client, prescriber, signed):
    old = signed.signing_key
    otp_force_login(client, prescriber)

    response = client.post(ROTATE)

    assert response.status_code == 302 and response["Location"] == URL
    new = PrescriberKey.objects.get(prescriber=prescriber, retired_at__isnull=True)
    assert new.pk != old.pk
    page = client.get(URL)
    active = re.search(r'data-testid="active-key">(.*?)</div>', page.content.decode(), flags=re.S)[1]
    retired = re.search(r'data-testid="retired-keys">(.*?)</ul>', page.content.decode(), flags=re.S)[1]
    assert fingerprint_for_display(new.fingerprint) in active
    assert fingerprint_for_display(old.fingerprint) in retired and "Retired" in retired
    body = text(page)
    assert f"New signing key: fingerprint {fingerprint_for_display(new.fingerprint)}." in body
    assert "Prescriptions signed with these still verify." in body
    event = AuditEvent.objects.get(action="prescriptions.key.rotate")
    assert (event.actor, event.outcome) == (prescriber, "success")

    pharmacist = Client(REMOTE_ADDR="192.0.2.44").get(f"/verify/rx/{signed.public_id}?c={signed.check_code}")

    assert re.search(r'<h1 class="verdict__title"[^>]*>Valid</h1>', pharmacist.content.decode())
    assert fingerprint_for_display(old.fingerprint) in text(pharmacist)


def test_rotation_is_only_a_post(client, prescriber):
    prescriber_key_ensure(actor=prescriber)
    otp_force_login(client, prescriber)

    response = client.get(ROTATE)

    assert response.status_code == 405
    assert PrescriberKey.objects.filter(prescriber=prescriber).count() == 1


@pytest.mark.parametrize("persona", ["patient", "nurse", "admin", "proxy"])
def test_the_key_pages_do_not_exist_for_anyone_but_a_doctor(client, request, persona):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        otp_force_login(client, user)
    else:
        client.force_login(user)

    answers = [client.get(URL).status_code, client.post(URL).status_code, client.post(ROTATE).status_code]

    assert answers == [404, 404, 404]
    assert not PrescriberKey.objects.exists()
    assert AuditEvent.objects.filter(actor=user, action="prescriptions.page.open", outcome="denied").count() == 3


def test_a_visitor_who_is_not_signed_in_is_asked_to_sign_in(client):
    for response in (client.get(URL), client.post(ROTATE)):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))
    assert not PrescriberKey.objects.exists()


def test_the_doctors_profile_shows_the_active_fingerprint_with_a_link_to_the_key_page(client, prescriber):
    otp_force_login(client, prescriber)
    without = client.get(reverse("accounts:profile"))
    key = prescriber_key_ensure(actor=prescriber)

    response = client.get(reverse("accounts:profile"))

    assert "No key yet: it is made when you sign your first prescription." in text(without)
    assert f"Prescription signing key Fingerprint {fingerprint_for_display(key.fingerprint)}" in text(response)
    assert f'href="{URL}"' in response.content.decode()


def test_a_patients_profile_says_nothing_of_signing_keys(client, patient):
    client.force_login(patient)

    response = client.get(reverse("accounts:profile"))

    assert response.status_code == 200
    assert "signing key" not in text(response)
