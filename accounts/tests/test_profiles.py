"""Profiles: the generated MRN, contact details, provider details, notification preferences."""

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts.models import PatientProfile, ProviderProfile
from accounts.services import patient_profile_ensure, patient_profile_update, provider_profile_update
from accounts.services import profiles as profile_services
from accounts.tests.factories import PatientFactory, PatientProfileFactory
from audit.models import AuditEvent
from telemed.errors import ApplicationError

pytestmark = pytest.mark.django_db


class TestMrn:
    def test_a_patient_profile_gets_an_mrn_like_tm_and_eight_base32_characters(self, patient):
        profile = patient_profile_ensure(user=patient)

        assert re.fullmatch(r"TM-[0-9A-HJKMNP-TV-Z]{8}", profile.mrn)
        assert profile.legal_name == "Pat Patient"

    def test_ensuring_twice_keeps_the_same_profile_and_mrn(self, patient):
        first = patient_profile_ensure(user=patient)

        assert patient_profile_ensure(user=patient, phone="+41 79 000 00 00") == first
        assert PatientProfile.objects.get().mrn == first.mrn

    def test_mrns_are_unique_across_many_patients(self):
        mrns = {patient_profile_ensure(user=PatientFactory()).mrn for _ in range(50)}

        assert len(mrns) == 50

    def test_an_mrn_already_taken_is_never_given_again(self, patient, monkeypatch):
        taken = PatientProfileFactory(mrn="TM-AAAAAAAA")
        drawn = iter(["TM-AAAAAAAA", "TM-BBBBBBBB"])
        monkeypatch.setattr(profile_services, "mrn_generate", lambda: next(drawn))

        profile = patient_profile_ensure(user=patient)

        assert profile.mrn == "TM-BBBBBBBB"
        assert taken.mrn == PatientProfile.objects.get(pk=taken.pk).mrn

    def test_the_database_refuses_a_duplicate_mrn(self, patient):
        PatientProfileFactory(mrn="TM-CCCCCCCC")

        with pytest.raises(IntegrityError):
            PatientProfileFactory(user=patient, mrn="TM-CCCCCCCC")

    def test_only_patients_have_a_patient_profile(self, doctor):
        with pytest.raises(ApplicationError):
            patient_profile_ensure(user=doctor)


class TestPatientProfileUpdate:
    def test_the_patient_updates_contact_details_and_notifications_audited(self, patient):
        patient_profile_update(
            actor=patient,
            user=patient,
            phone="+41 79 123 45 67",
            date_of_birth=dt.date(1990, 5, 17),
            preferred_language="fr",
            notifications={"notify_sms": True, "notify_email": False},
        )

        profile = PatientProfile.objects.get(user=patient)
        patient.refresh_from_db()
        assert (profile.phone, profile.preferred_language) == ("+41 79 123 45 67", "fr")
        assert (patient.notify_email, patient.notify_sms, patient.notify_in_app) == (False, True, True)
        event = AuditEvent.objects.get(action="accounts.patient_profile.update")
        assert (event.actor, event.patient) == (patient, patient)
        assert event.reason == "date_of_birth, notify_email, notify_sms, phone, preferred_language"

    def test_another_patient_cannot_change_my_profile(self, patient, outsider_patient):
        with pytest.raises(ApplicationError) as refused:
            patient_profile_update(actor=outsider_patient, user=patient, phone="+1 555 0100")

        assert refused.value.status_code == 403
        assert not PatientProfile.objects.exists()
        assert AuditEvent.objects.get().outcome == "denied"

    def test_an_invalid_sex_is_refused(self, patient):
        with pytest.raises(ValidationError):
            patient_profile_update(actor=patient, user=patient, sex="robot")

    def test_unknown_fields_are_refused(self, patient):
        with pytest.raises(ApplicationError):
            patient_profile_update(actor=patient, user=patient, mrn="TM-00000000")


class TestProviderProfile:
    def test_a_doctor_sets_specialty_and_time_zone(self, doctor):
        provider_profile_update(actor=doctor, user=doctor, specialty="Cardiology", time_zone="Europe/Zurich")

        assert ProviderProfile.objects.get(user=doctor).time_zone == "Europe/Zurich"
        assert AuditEvent.objects.filter(action="accounts.provider_profile.update").count() == 1

    def test_an_unknown_time_zone_is_refused(self, doctor):
        with pytest.raises(ValidationError) as refused:
            provider_profile_update(actor=doctor, user=doctor, time_zone="Mars/Olympus_Mons")

        assert "time_zone" in refused.value.error_dict
        assert not ProviderProfile.objects.exists()

    def test_a_patient_has_no_provider_profile(self, patient):
        with pytest.raises(ApplicationError):
            provider_profile_update(actor=patient, user=patient, specialty="Self-care")


class TestProfilePage:
    def test_a_patient_sees_their_mrn_and_saves_contact_details(self, client, patient):
        mrn = patient_profile_ensure(user=patient).mrn
        client.force_login(patient)

        page = client.get("/accounts/profile/").content.decode()
        response = client.post(
            "/accounts/profile/",
            {
                "legal_name": "Patricia Patient",
                "sex": "female",
                "phone": "+41 79 555 55 55",
                "preferred_language": "de",
                "notify_in_app": "on",
            },
            follow=True,
        )

        assert mrn in page
        assert "Your settings are saved." in response.content.decode()
        profile = PatientProfile.objects.get(user=patient)
        patient.refresh_from_db()
        assert (profile.legal_name, profile.preferred_language) == ("Patricia Patient", "de")
        assert (patient.notify_email, patient.notify_sms, patient.notify_in_app) == (False, False, True)

    def test_a_bad_value_is_shown_next_to_its_field(self, client, patient):
        client.force_login(patient)

        response = client.post("/accounts/profile/", {"sex": "female", "preferred_language": "xx"})

        html = response.content.decode()
        assert response.status_code == 400
        assert 'aria-describedby="id_preferred_language-error"' in html
        assert 'id="id_preferred_language-error"' in html

    def test_a_doctor_saves_provider_details(self, otp_client, doctor):
        client = otp_client(doctor)

        response = client.post(
            "/accounts/profile/",
            {"specialty": "Dermatology", "time_zone": "America/Toronto", "notify_email": "on"},
            follow=True,
        )

        assert "Your settings are saved." in response.content.decode()
        assert ProviderProfile.objects.get(user=doctor).specialty == "Dermatology"

    def test_an_admin_saves_notification_preferences(self, otp_client, admin):
        client = otp_client(admin)

        client.post("/accounts/profile/", {"notify_sms": "on"})

        admin.refresh_from_db()
        assert (admin.notify_email, admin.notify_sms, admin.notify_in_app) == (False, True, False)
