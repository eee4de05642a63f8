"""The authorization matrix: every route of the project against every persona.

Every URL pattern (walked from the root resolver, admin and API included) and every WebSocket
route must have an entry here, or `test_every_route_is_in_the_matrix` fails: a new route cannot
ship without someone deciding who may reach it. Adding a route is one line in MATRIX (or
WS_MATRIX), usually with one of the helpers: `public()`, `signed_in()`, `admin_only()`,
`clinicians()`, `expect(default, **per_persona)`.

Expectations are what each persona meets on a GET (or `method="post"`, with no data) with the
objects of the personas as ids: a status code, LOGIN (sent to a sign-in page), or IN (the admin
site let them in: no sign-in redirect, no server error). Objects named by ids belong to the
`patient` persona (or to the `doctor` persona for their emergency access), so "other patient"
and "doctor without a care relationship" rows are the IDOR guard: they must meet 404.
Staff personas have OTP-verified sessions; the proxy acts for `patient` with every scope.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.tests.factories import BreakGlassAccessFactory, otp_force_login
from appointments.tests.factories import AppointmentFactory, WaitlistEntryFactory, WaitlistOfferFactory

PERSONAS = ("anonymous", "patient", "other_patient", "doctor", "doctor_no_care", "nurse", "admin", "proxy")
FIXTURE_OF = {
    "patient": "patient",
    "other_patient": "outsider_patient",
    "doctor": "doctor",
    "doctor_no_care": "outsider_doctor",
    "nurse": "nurse",
    "admin": "admin",
    "proxy": "proxy",
}
LOGIN = "login"
IN = "in"


def expect(default: Any, **overrides: Any) -> dict[str, Any]:
    unknown = set(overrides) - set(PERSONAS)
    if unknown:
        raise ValueError(f"Unknown personas {unknown}")
    return {persona: overrides.get(persona, default) for persona in PERSONAS}


def public(status: int = 200, **overrides: Any) -> dict[str, Any]:
    return expect(status, **overrides)


def signed_in(status: int = 200, **overrides: Any) -> dict[str, Any]:
    return expect(status, **{"anonymous": LOGIN, **overrides})


def admin_only(status: int = 200, **overrides: Any) -> dict[str, Any]:
    return expect(404, **{"anonymous": LOGIN, "admin": status, **overrides})


def clinicians(status: int = 200, **overrides: Any) -> dict[str, Any]:
    return expect(404, **{"anonymous": LOGIN, "doctor": status, "doctor_no_care": status, "nurse": status, **overrides})


@dataclass(frozen=True)
class Route:
    expected: dict[str, Any]
    kwargs: Callable[[World], dict[str, Any]] | None = None
    method: str = "get"
    # Routes whose GET cannot say much without a valid token, etc.: why, for the reader.
    note: str = ""


@dataclass
class World:
    users: dict[str, Any]
    objects: dict[str, Any] = field(default_factory=dict)

    @property
    def patient(self):
        return self.users["patient"]


BAD_TOKEN = {"uidb64": "MQ", "token": "made-up-token"}


def _chart_readers(status: int = 200, **overrides: Any) -> dict[str, Any]:
    """Those who may read the world's patient's chart meet `status`; outsiders 404."""
    readers = {"patient": status, "proxy": status, "doctor": status, "nurse": status}
    return expect(404, **{"anonymous": LOGIN, **readers, **overrides})


def _doctor_form(status: int = 400) -> dict[str, Any]:
    """A change only the patient's doctor makes: other readers of the chart meet 403."""
    return _chart_readers(403, doctor=status)


MATRIX: dict[str, Route] = {
    # --- public ---------------------------------------------------------------------------
    "home": Route(public()),
    "healthz": Route(public()),
    "readyz": Route(public()),
    "api-schema": Route(public()),
    "api-docs": Route(public()),
    # --- accounts: signing in and out, registration, password reset -----------------------
    "accounts:login": Route(public()),
    "accounts:logout": Route(public(405)),
    # Signed-in users are sent on to the portal.
    "accounts:register": Route(expect(302, anonymous=200)),
    "accounts:register_done": Route(public()),
    "accounts:verify_resend": Route(public()),
    # The link's page asks to confirm (a POST verifies), so a GET shows it even for a bad token.
    "accounts:verify_email": Route(public(), kwargs=lambda w: BAD_TOKEN),
    "accounts:password_reset": Route(public()),
    "accounts:password_reset_done": Route(public()),
    "accounts:password_reset_confirm": Route(public(), kwargs=lambda w: BAD_TOKEN),
    "accounts:password_reset_complete": Route(public()),
    "accounts:invite_accept": Route(public(400), kwargs=lambda w: BAD_TOKEN),
    # --- accounts: MFA, sessions ------------------------------------------------------------
    # Only during sign-in (a password-checked user waiting for the code); others are sent on.
    "accounts:mfa_challenge": Route(expect(302, anonymous=LOGIN)),
    # Staff personas are already enrolled: sent on.
    "accounts:mfa_setup": Route(signed_in(200, doctor=302, doctor_no_care=302, nurse=302, admin=302)),
    "accounts:security": Route(signed_in()),
    "accounts:backup_codes_regenerate": Route(signed_in(405)),
    "accounts:mfa_disable": Route(signed_in(405)),
    "accounts:sessions": Route(signed_in()),
    "accounts:session_end": Route(signed_in(405)),
    "accounts:sessions_end_all": Route(signed_in(405)),
    "accounts:session_ping": Route(public(405)),
    # --- accounts: clinic admin pages --------------------------------------------------------
    "accounts:staff_users": Route(admin_only()),
    "accounts:staff_user": Route(admin_only(), kwargs=lambda w: {"user_id": w.patient.pk}),
    "accounts:staff_deactivate": Route(admin_only(405), kwargs=lambda w: {"user_id": w.patient.pk}),
    "accounts:staff_mfa_reset": Route(admin_only(405), kwargs=lambda w: {"user_id": w.patient.pk}),
    "accounts:staff_unlock": Route(admin_only(405)),
    "accounts:staff_invite": Route(admin_only()),
    # --- accounts: profile, proxies, care teams, break-glass --------------------------------
    "accounts:profile": Route(signed_in()),
    "accounts:proxies": Route(signed_in()),
    "accounts:proxy_switch": Route(signed_in(405)),
    "accounts:proxy_revoke": Route(
        signed_in(404, patient=302, admin=302),
        kwargs=lambda w: {"grant_id": w.objects["grant"].pk},
        method="post",
    ),
    "accounts:breakglass_open": Route(clinicians()),
    "accounts:breakglass_detail": Route(
        clinicians(404, doctor=200), kwargs=lambda w: {"access_id": w.objects["breakglass"].pk}
    ),
    "accounts:breakglass_review": Route(admin_only()),
    "accounts:breakglass_review_mark": Route(
        admin_only(405), kwargs=lambda w: {"access_id": w.objects["breakglass"].pk}
    ),
    "accounts:care_assign": Route(admin_only()),
    "accounts:care_end": Route(admin_only(405), kwargs=lambda w: {"relationship_id": w.objects["care"].pk}),
    # --- appointments -------------------------------------------------------------------------
    # Staff run the front desk: any OTP-verified staff member sees the schedule entry (the
    # reason only with chart access); the patient and their proxy see theirs.
    "appointments:detail": Route(
        signed_in(200, other_patient=404), kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk}
    ),
    # The .ics download: whoever may see the appointment (no health details in it).
    "appointments:ics": Route(
        signed_in(200, other_patient=404), kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk}
    ),
    "appointments:calendar": Route(signed_in()),
    # Public (calendar apps send no cookie): the token is the credential; a made-up one is 404.
    "appointments:feed": Route(public(404), kwargs=lambda w: {"token": "made-up-token"}),
    "appointments:waitlist_offer": Route(
        expect(404, anonymous=LOGIN, patient=200, proxy=200), kwargs=lambda w: {"offer_id": w.objects["offer"].pk}
    ),
    # Pages of the patient's side: the patient and the proxy acting for them (a proxy who has
    # not switched sees their own, empty list); staff are sent to their own pages or meet 404;
    # an unverified patient (other_patient) sees no health data.
    "appointments:list": Route(expect(302, anonymous=LOGIN, patient=200, proxy=200, other_patient=404)),
    "appointments:book": Route(expect(404, anonymous=LOGIN, patient=200, proxy=200)),
    "appointments:book_type": Route(
        expect(404, anonymous=LOGIN, patient=200, proxy=200), kwargs=lambda w: _bookable(w)
    ),
    "appointments:book_slot": Route(
        expect(404, anonymous=LOGIN, patient=200, proxy=200),
        kwargs=lambda w: {**_bookable(w), "type_id": w.objects["appointment"].appointment_type_id},
    ),
    # Without a chosen time the reason step sends back to the times.
    "appointments:book_details": Route(
        expect(404, anonymous=LOGIN, patient=302, proxy=302),
        kwargs=lambda w: {**_bookable(w), "type_id": w.objects["appointment"].appointment_type_id},
    ),
    "appointments:waitlist_join": Route(expect(404, anonymous=LOGIN, patient=200, proxy=200)),
    "appointments:waitlist_leave": Route(
        expect(404, anonymous=LOGIN, patient=302, proxy=302),
        kwargs=lambda w: {"entry_id": w.objects["offer"].entry_id},
        method="post",
    ),
    # Cancel and reschedule: the patient's side and the front desk (staff cancel anytime).
    "appointments:cancel": Route(
        signed_in(200, other_patient=404), kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk}
    ),
    "appointments:reschedule": Route(
        signed_in(200, other_patient=404), kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk}
    ),
    # Staff only; an empty POST is refused by the service and sent back with a message.
    "appointments:transition": Route(
        expect(404, anonymous=LOGIN, doctor=302, doctor_no_care=302, nurse=302, admin=302),
        kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk},
        method="post",
    ),
    "appointments:day": Route(clinicians(admin=200)),
    "appointments:week": Route(clinicians(admin=200)),
    "appointments:front_desk": Route(clinicians(admin=200)),
    # --- records: pages ------------------------------------------------------------------------
    # "My health" is the patient's side: the patient, or the proxy (who has not switched: their
    # own chart); doctors and nurses are sent to their charts; an unverified patient and an
    # admin see nothing.
    "records:my_health": Route(
        expect(404, anonymous=LOGIN, patient=200, proxy=200, doctor=302, doctor_no_care=302, nurse=302)
    ),
    # The patient's own access log; anyone else (the proxy included) reads only their own.
    "records:access_log": Route(expect(404, anonymous=LOGIN, patient=200, proxy=200)),
    "records:patients": Route(clinicians()),
    # A chart, by its patient's id: those the policy lets read it (the proxy with records.view).
    "records:chart": Route(_chart_readers(), kwargs=lambda w: {"patient_id": w.patient.pk}),
    # Doctor-only forms, posted empty: the doctor meets the form's errors (400); readers who
    # may not change this part of the chart meet 403; everyone else 404.
    "records:allergy_add": Route(_doctor_form(), kwargs=lambda w: {"patient_id": w.patient.pk}, method="post"),
    "records:condition_add": Route(_doctor_form(), kwargs=lambda w: {"patient_id": w.patient.pk}, method="post"),
    "records:medication_add": Route(_doctor_form(), kwargs=lambda w: {"patient_id": w.patient.pk}, method="post"),
    "records:immunization_add": Route(_doctor_form(), kwargs=lambda w: {"patient_id": w.patient.pk}, method="post"),
    "records:note_new": Route(_doctor_form(200), kwargs=lambda w: {"patient_id": w.patient.pk}),
    "records:entry_edit": Route(
        _doctor_form(200), kwargs=lambda w: {"kind": "allergy", "entry_id": w.objects["allergy"].pk}
    ),
    "records:entry_error": Route(
        _doctor_form(200), kwargs=lambda w: {"kind": "allergy", "entry_id": w.objects["allergy"].pk}
    ),
    # Vitals: the patient (home readings), the doctor and the nurse; the proxy may only read.
    "records:vitals_add": Route(
        _chart_readers(400, proxy=403), kwargs=lambda w: {"patient_id": w.patient.pk}, method="post"
    ),
    # The doctor acknowledges the home reading (302); the nurse then finds it done (302 with a message).
    "records:vitals_acknowledge": Route(
        _chart_readers(302, patient=403, proxy=403),
        kwargs=lambda w: {"vitals_id": w.objects["vitals"].pk},
        method="post",
    ),
    # Uploads: the patient and the doctor (an empty form: 400); the nurse and the proxy read only.
    "records:document_upload": Route(
        _chart_readers(400, nurse=403, proxy=403), kwargs=lambda w: {"patient_id": w.patient.pk}, method="post"
    ),
    "records:document_download": Route(
        _chart_readers(), kwargs=lambda w: {"public_id": w.objects["document"].public_id}
    ),
    # The confirm page: whoever may add documents (the patient, a doctor); readers meet 403.
    "records:document_withdraw": Route(
        expect(404, anonymous=LOGIN, patient=200, doctor=200, nurse=403, proxy=403),
        kwargs=lambda w: {"public_id": w.objects["document"].public_id},
    ),
    # A signed note: whoever reads the chart. A draft is the doctors' (the author discards it).
    "records:note": Route(_chart_readers(), kwargs=lambda w: {"note_id": w.objects["note"].pk}),
    "records:note_amend": Route(_doctor_form(), kwargs=lambda w: {"note_id": w.objects["note"].pk}, method="post"),
    # The patient's side never learns that a draft exists: 404, as for any other id.
    "records:note_discard": Route(
        _doctor_form(200) | {"patient": 404, "proxy": 404}, kwargs=lambda w: {"note_id": w.objects["draft"].pk}
    ),
    # --- prescriptions: pages -------------------------------------------------------------------
    # "rx" is the patient's signed prescription by the `doctor` persona, "rx_draft" a draft of
    # theirs, "refill" an open refill request on "rx". Readers are the chart's readers; drafts
    # are the clinicians' only; changes are the caring doctor's (others who may read meet 403).
    "prescriptions:list": Route(signed_in(200, other_patient=404, doctor_no_care=200, admin=404)),
    # Without ?patient= the editor sends back to the list (where a doctor picks a patient).
    "prescriptions:new": Route(expect(302, anonymous=LOGIN)),
    "prescriptions:detail": Route(_chart_readers(), kwargs=lambda w: {"pk": w.objects["rx"].pk}),
    "prescriptions:edit": Route(
        _chart_readers(404, doctor=200, nurse=403), kwargs=lambda w: {"pk": w.objects["rx_draft"].pk}
    ),
    # The draft repeats the signed "rx": the duplicate warning needs a reason before any code.
    "prescriptions:sign": Route(
        _chart_readers(404, doctor=409, nurse=403), kwargs=lambda w: {"pk": w.objects["rx_draft"].pk}, method="post"
    ),
    "prescriptions:cancel": Route(_doctor_form(), kwargs=lambda w: {"pk": w.objects["rx"].pk}, method="post"),
    "prescriptions:revise": Route(_doctor_form(302), kwargs=lambda w: {"pk": w.objects["rx"].pk}, method="post"),
    "prescriptions:pdf": Route(_chart_readers(), kwargs=lambda w: {"pk": w.objects["rx"].pk}),
    # The open request makes a second one a 409 for the patient's side.
    "prescriptions:refill_request": Route(
        _chart_readers(403, patient=409, proxy=409), kwargs=lambda w: {"pk": w.objects["rx"].pk}, method="post"
    ),
    "prescriptions:refill_queue": Route(expect(404, anonymous=LOGIN, doctor=200, doctor_no_care=200)),
    "prescriptions:refill_approve": Route(
        _doctor_form(), kwargs=lambda w: {"pk": w.objects["refill"].pk}, method="post"
    ),
    "prescriptions:refill_decline": Route(
        _doctor_form(), kwargs=lambda w: {"pk": w.objects["refill"].pk}, method="post"
    ),
    "prescriptions:keys": Route(expect(404, anonymous=LOGIN, doctor=200, doctor_no_care=200)),
    "prescriptions:key_rotate": Route(expect(404, anonymous=LOGIN, doctor=302, doctor_no_care=302), method="post"),
    # Public: the paper's holder. Without the check code (?c=) the page says "not found".
    "rx_verify": Route(public(404), kwargs=lambda w: {"public_id": w.objects["rx"].public_id}),
    # --- messaging: pages ------------------------------------------------------------------------
    # "conversation" is the patient's care-team conversation, "query" their question to the
    # clinic. Participants: the patient, the proxy (messaging scope), the caring doctor and
    # nurse; a question also every verified doctor and nurse (the shared inbox).
    "messaging:inbox": Route(signed_in(200, admin=404)),
    "messaging:shared_inbox": Route(expect(404, anonymous=LOGIN, doctor=200, doctor_no_care=200, nurse=200)),
    "messaging:ask": Route(expect(404, anonymous=LOGIN, patient=200, proxy=200, other_patient=200)),
    "messaging:care_team": Route(signed_in(405), method="get"),
    "messaging:conversation": Route(
        expect(404, anonymous=LOGIN, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"pk": w.objects["conversation"].pk},
    ),
    "messaging:send": Route(
        expect(404, anonymous=LOGIN, patient=400, proxy=400, doctor=400, nurse=400),
        kwargs=lambda w: {"pk": w.objects["conversation"].pk},
        method="post",
    ),
    "messaging:retract": Route(
        expect(404, anonymous=LOGIN, patient=302, proxy=403, doctor=403, nurse=403),
        kwargs=lambda w: {"pk": w.objects["conversation"].pk, "seq": 1},
        method="post",
    ),
    "messaging:claim": Route(
        expect(404, anonymous=LOGIN, patient=403, proxy=403, doctor=302, doctor_no_care=302, nurse=302),
        kwargs=lambda w: {"pk": w.objects["query"].pk},
        method="post",
    ),
    "messaging:status": Route(
        expect(404, anonymous=LOGIN, patient=400, proxy=400, doctor=400, doctor_no_care=400, nurse=400),
        kwargs=lambda w: {"pk": w.objects["query"].pk},
        method="post",
    ),
    # --- records: the patient's copy (export) ---------------------------------------------------
    # The patient's own record, or the one a proxy acts for (the world's proxy has not switched:
    # their own). Staff are no patient (404; clinicians read the chart); an unverified patient
    # sees no health data. The API entries live here too, with the pages.
    "records:export_json": Route(expect(404, anonymous=LOGIN, patient=200, proxy=200)),
    "records:export_pdf": Route(expect(404, anonymous=LOGIN, patient=200, proxy=200)),
    "api:records_export_json": Route(expect(404, anonymous=401, patient=200, proxy=200)),
    "api:records_export_pdf": Route(expect(404, anonymous=401, patient=200, proxy=200)),
    # --- API ----------------------------------------------------------------------------------
    "api:ping": Route(expect(200, anonymous=401)),
    "api:token": Route(public(405)),
    "api:token_refresh": Route(public(405)),
    "api:logout": Route(public(405)),
    "api:register": Route(public(405)),
    "api:ws_ticket": Route(expect(405, anonymous=401)),
    "api:me": Route(expect(200, anonymous=401)),
    # Admins have no patient or provider profile.
    "api:me_profile": Route(expect(200, anonymous=401, admin=404)),
    # --- API: appointments (sessions here; the JWT flows are in appointments/tests/api/) -----
    # No query: a slot search without provider and type is invalid.
    "api:slots": Route(expect(400, anonymous=401)),
    "api:providers": Route(expect(200, anonymous=401)),
    "api:appointment_types": Route(expect(200, anonymous=401)),
    # Patients and proxies list their own, staff the front desk's. The other patient's email is
    # unverified: no health data (accounts.policy).
    "api:appointments": Route(expect(200, anonymous=401, other_patient=404)),
    "api:appointment_detail": Route(
        expect(200, anonymous=401, other_patient=404), kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk}
    ),
    # POST with no body would really cancel it (the reason is optional): GET is not allowed.
    "api:appointment_cancel": Route(
        expect(405, anonymous=401), kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk}
    ),
    # The object is checked before the body (the matrix posts an empty form: 415, JSON only).
    "api:appointment_reschedule": Route(
        expect(415, anonymous=401, other_patient=404),
        kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk},
        method="post",
    ),
    "api:appointment_status": Route(
        expect(415, anonymous=401, other_patient=404),
        kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk},
        method="post",
    ),
    "api:appointment_ics": Route(
        expect(200, anonymous=401, other_patient=404), kwargs=lambda w: {"appointment_id": w.objects["appointment"].pk}
    ),
    # The waitlist is the patient side's; staff are refused the list (403) and meet 404s on objects.
    "api:waitlist": Route(expect(403, anonymous=401, patient=200, proxy=200, other_patient=404)),
    "api:waitlist_entry": Route(
        expect(404, anonymous=401, patient=200, proxy=200), kwargs=lambda w: {"entry_id": w.objects["offer"].entry.pk}
    ),
    "api:waitlist_offer": Route(
        expect(404, anonymous=401, patient=200, proxy=200), kwargs=lambda w: {"offer_id": w.objects["offer"].pk}
    ),
    # POST would book (or refuse a time the world's doctor does not offer): GET is not allowed.
    "api:waitlist_offer_accept": Route(
        expect(405, anonymous=401), kwargs=lambda w: {"offer_id": w.objects["offer"].pk}
    ),
    # The patient declines first (personas go in order); the proxy then finds it no longer open.
    "api:waitlist_offer_decline": Route(
        expect(404, anonymous=401, patient=200, proxy=409),
        kwargs=lambda w: {"offer_id": w.objects["offer"].pk},
        method="post",
    ),
    # --- API: records ---------------------------------------------------------------------------
    # The chart's readers: the patient, their proxy (records.view), the caring doctor (who also
    # holds a break-glass) and the care-team nurse. Writes check the chart before the body: a
    # reader who may not write meets 403, a writer's empty form 415 (JSON only), outsiders 404.
    "api:records_chart": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"patient_id": w.patient.pk},
    ),
    "api:records_allergies": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"patient_id": w.patient.pk},
    ),
    "api:records_conditions": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"patient_id": w.patient.pk},
    ),
    "api:records_medications": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"patient_id": w.patient.pk},
    ),
    "api:records_immunizations": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"patient_id": w.patient.pk},
    ),
    "api:records_vitals": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"patient_id": w.patient.pk},
    ),
    "api:records_notes": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"patient_id": w.patient.pk},
    ),
    "api:records_documents": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"patient_id": w.patient.pk},
    ),
    "api:records_entry": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"kind": "allergies", "entry_id": w.objects["allergy"].pk},
    ),
    "api:records_entry_error": Route(
        expect(404, anonymous=401, patient=403, proxy=403, nurse=403, doctor=415),
        kwargs=lambda w: {"kind": "allergies", "entry_id": w.objects["allergy"].pk},
        method="post",
    ),
    # No body: the doctor really acknowledges the home reading; the nurse, after them, finds it done.
    "api:records_vitals_acknowledge": Route(
        expect(404, anonymous=401, patient=403, proxy=403, doctor=200, nurse=409),
        kwargs=lambda w: {"vitals_id": w.objects["vitals"].pk},
        method="post",
    ),
    # The patient corrects their own home reading; clinicians too.
    "api:records_vitals_error": Route(
        expect(404, anonymous=401, patient=415, proxy=403, doctor=415, nurse=415),
        kwargs=lambda w: {"vitals_id": w.objects["vitals"].pk},
        method="post",
    ),
    # A draft: the patient's side meets 404 (signed notes only).
    "api:records_note": Route(
        expect(404, anonymous=401, doctor=200, nurse=200), kwargs=lambda w: {"note_id": w.objects["draft"].pk}
    ),
    # No body: the doctor, its author, really signs the draft. Personas go in order: the patient
    # meets the draft as a 404 whatever it asks (as when reading it); by the nurse's and the
    # proxy's turn it is signed, readable, and not theirs to sign (403).
    "api:records_note_sign": Route(
        expect(404, anonymous=401, doctor=200, nurse=403, proxy=403),
        kwargs=lambda w: {"note_id": w.objects["draft"].pk},
        method="post",
    ),
    "api:records_note_amend": Route(
        expect(404, anonymous=401, patient=403, proxy=403, doctor=415, nurse=403),
        kwargs=lambda w: {"note_id": w.objects["note"].pk},
        method="post",
    ),
    "api:records_document": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"public_id": w.objects["document"].public_id},
    ),
    "api:records_document_download": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"public_id": w.objects["document"].public_id},
    ),
    # The patient withdraws their own upload; a doctor any document.
    "api:records_document_error": Route(
        expect(404, anonymous=401, patient=415, proxy=403, doctor=415, nurse=403),
        kwargs=lambda w: {"public_id": w.objects["document"].public_id},
        method="post",
    ),
    # Everyone's own log: the proxy persona is a verified patient too (their log is empty);
    # staff and an unverified patient have none.
    "api:records_access_log": Route(expect(404, anonymous=401, patient=200, proxy=200)),
    # --- API: messaging -------------------------------------------------------------------------
    "api:messaging_conversations": Route(expect(200, anonymous=401)),
    "api:messaging_care_team": Route(expect(415, anonymous=401), method="post"),
    "api:messaging_query_create": Route(expect(415, anonymous=401), method="post"),
    "api:messaging_conversation": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"conversation_id": w.objects["conversation"].pk},
    ),
    "api:messaging_messages": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"conversation_id": w.objects["conversation"].pk},
    ),
    "api:messaging_message_retract": Route(
        expect(404, anonymous=401, patient=200, proxy=403, doctor=403, nurse=403),
        kwargs=lambda w: {"conversation_id": w.objects["conversation"].pk, "seq": 1},
        method="post",
    ),
    "api:messaging_read": Route(
        expect(404, anonymous=401, patient=415, proxy=415, doctor=415, nurse=415),
        kwargs=lambda w: {"conversation_id": w.objects["conversation"].pk},
        method="post",
    ),
    "api:messaging_inbox": Route(expect(200, anonymous=401)),
    "api:messaging_query_claim": Route(
        expect(404, anonymous=401, patient=403, proxy=403, doctor=200, doctor_no_care=200, nurse=200),
        kwargs=lambda w: {"conversation_id": w.objects["query"].pk},
        method="post",
    ),
    "api:messaging_query_status": Route(
        expect(404, anonymous=401, patient=415, proxy=415, doctor=415, doctor_no_care=415, nurse=415),
        kwargs=lambda w: {"conversation_id": w.objects["query"].pk},
        method="post",
    ),
    # --- API: prescriptions ---------------------------------------------------------------------
    # Lists: the patient's side and doctors see their own (a doctor what they wrote); nurses and
    # admins must name a patient (?patient=, 400 without). Writes check who may act before the
    # body: a reader who may not meets 403, a writer's empty form 415 (JSON only).
    "api:prescriptions_list": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, doctor_no_care=200, nurse=400, admin=400)
    ),
    "api:prescriptions_detail": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"prescription_id": w.objects["rx"].pk},
    ),
    "api:prescriptions_check": Route(
        expect(404, anonymous=401, doctor=200, nurse=403),
        kwargs=lambda w: {"prescription_id": w.objects["rx_draft"].pk},
        method="post",
    ),
    "api:prescriptions_sign": Route(
        expect(404, anonymous=401, doctor=415, nurse=403),
        kwargs=lambda w: {"prescription_id": w.objects["rx_draft"].pk},
        method="post",
    ),
    "api:prescriptions_cancel": Route(
        expect(404, anonymous=401, patient=403, proxy=403, doctor=415, nurse=403),
        kwargs=lambda w: {"prescription_id": w.objects["rx"].pk},
        method="post",
    ),
    "api:prescriptions_revise": Route(
        expect(404, anonymous=401, patient=403, proxy=403, doctor=201, nurse=403),
        kwargs=lambda w: {"prescription_id": w.objects["rx"].pk},
        method="post",
    ),
    "api:prescriptions_pdf": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, nurse=200),
        kwargs=lambda w: {"prescription_id": w.objects["rx"].pk},
    ),
    "api:prescriptions_refill_request": Route(
        expect(404, anonymous=401, patient=415, proxy=415, doctor=403, nurse=403),
        kwargs=lambda w: {"prescription_id": w.objects["rx"].pk},
        method="post",
    ),
    "api:prescriptions_refill_requests": Route(
        expect(404, anonymous=401, patient=200, proxy=200, doctor=200, doctor_no_care=200, nurse=400, admin=400)
    ),
    "api:prescriptions_refill_approve": Route(
        expect(404, anonymous=401, patient=403, proxy=403, doctor=415, nurse=403),
        kwargs=lambda w: {"refill_id": w.objects["refill"].pk},
        method="post",
    ),
    "api:prescriptions_refill_decline": Route(
        expect(404, anonymous=401, patient=403, proxy=403, doctor=415, nurse=403),
        kwargs=lambda w: {"refill_id": w.objects["refill"].pk},
        method="post",
    ),
    # Public keys only; whoever is no doctor has none (an empty list), and may not make one.
    "api:prescriptions_keys": Route(expect(200, anonymous=401)),
    "api:prescriptions_key_rotate": Route(expect(403, anonymous=401, doctor=201, doctor_no_care=201), method="post"),
    # Public: without the check code (?c=) the lookup is a bad request; a dispense is JSON only.
    "api:prescriptions_verify": Route(public(400), kwargs=lambda w: {"public_id": w.objects["rx"].public_id}),
    "api:prescriptions_dispense": Route(
        public(415), kwargs=lambda w: {"public_id": w.objects["rx"].public_id}, method="post"
    ),
}

# Every route of the Django admin: only an OTP-verified clinic admin gets in; everyone else is
# sent to sign in (AdminSite.admin_view guards each of them alike).
ADMIN_SITE = expect(LOGIN, admin=IN)
ADMIN_SITE_EXCEPTIONS: dict[str, dict[str, Any]] = {
    # The admin's own sign-in door sends everyone to the portal's login (one door, one lockout).
    "admin:login": expect(LOGIN),
    # Sign-out is a POST; a GET is sent back to the admin index (and from there to sign in).
    "admin:logout": expect(302, admin=405),
}

# WebSocket routes: True if the persona's socket (session cookie, allowed Origin) is accepted.
WS_MATRIX: dict[str, dict[str, bool]] = {
    "ws/ping/": expect(True, anonymous=False),
    # The patient's care-team conversation: its participants only (staff OTP-verified).
    "ws/conversations/<int:conversation_id>/": expect(False, patient=True, proxy=True, doctor=True, nurse=True),
}
# Which world object a socket route's id names (the patient's care-team conversation).
WS_OBJECTS = {"conversation_id": "conversation"}


# --- machinery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    key: str
    route: str
    pattern: URLPattern
    named: bool


def _walk(patterns, prefix: str = "", namespace: str | None = None) -> Iterator[Found]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        else:
            route = prefix + str(entry.pattern)
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield Found(key=name or route, route=route, pattern=entry, named=bool(name))


def project_routes() -> list[Found]:
    return list(_walk(get_resolver().url_patterns))


def _is_admin(found: Found) -> bool:
    return found.route.startswith("admin/")


def _ws_routes() -> list[str]:
    from telemed.routing import websocket_urlpatterns

    return [str(found.route) for found in _walk(websocket_urlpatterns)]


HTTP_ROUTES = [found for found in project_routes() if not _is_admin(found)]
ADMIN_ROUTES = [found for found in project_routes() if _is_admin(found)]


def test_every_route_is_in_the_matrix():
    missing = sorted(found.key for found in HTTP_ROUTES if found.key not in MATRIX)
    stale = sorted(set(MATRIX) - {found.key for found in HTTP_ROUTES})
    missing_ws = sorted(set(_ws_routes()) - set(WS_MATRIX))
    stale_ws = sorted(set(WS_MATRIX) - set(_ws_routes()))

    assert (missing, missing_ws) == ([], []), "Add these routes to the authorization matrix"
    assert (stale, stale_ws) == ([], []), "These matrix entries name no route any more"


def test_every_expectation_names_every_persona():
    for key, entry in MATRIX.items():
        assert set(entry.expected) == set(PERSONAS), key


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The API's throttles count in the cache; hundreds of requests would trip them.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(request, patient, proxy, doctor, nurse):
    from accounts.models import CareRelationship, ProxyGrant

    users = {persona: request.getfixturevalue(fixture) for persona, fixture in FIXTURE_OF.items()}
    objects = {
        "grant": ProxyGrant.objects.get(proxy=proxy, patient=patient),
        "care": CareRelationship.objects.get(provider=doctor, patient=patient),
        "breakglass": BreakGlassAccessFactory(clinician=doctor, patient=patient),
        "appointment": AppointmentFactory(patient=patient, provider=doctor),
        "offer": WaitlistOfferFactory(entry=WaitlistEntryFactory(patient=patient, provider=doctor)),
        **_chart_objects(patient, doctor),
        **_prescription_objects(patient, doctor),
        **_conversation_objects(patient),
    }
    return World(users=users, objects=objects)


def _chart_objects(patient, doctor) -> dict[str, Any]:
    """A small chart for `patient`: an allergy, a home reading, a signed note, a draft, a document."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.tests.factories import otp_verified_user
    from records.services import chart, documents, notes

    clinician = otp_verified_user(doctor)
    signed = notes.note_create(actor=clinician, patient=patient, subjective="Cough for a week.", plan="Rest.")
    return {
        "allergy": chart.allergy_record(actor=clinician, patient=patient, substance="Penicillin", severity="severe"),
        "vitals": chart.vitals_record(actor=patient, patient=patient, measurements={"heart_rate_bpm": 72}),
        "note": notes.note_sign(signed, actor=clinician),
        "draft": notes.note_create(actor=clinician, patient=patient, subjective="Draft."),
        "document": documents.document_upload(
            actor=patient, patient=patient, upload=SimpleUploadedFile("result.txt", b"Hb 13.5 g/dL\n"), title="Lab"
        ),
    }


def _prescription_objects(patient, doctor) -> dict[str, Any]:
    """A signed prescription of `patient` by `doctor`, a draft, and an open refill request."""
    from accounts.mfa.testing import totp_code
    from accounts.models import ProviderProfile
    from accounts.tests.factories import otp_device_for, otp_verified_user
    from prescriptions.services.prescribing import prescription_create, prescription_sign
    from prescriptions.services.refills import refill_request_create

    ProviderProfile.objects.update_or_create(user=doctor, defaults={"licence_number": "GMC 1000001"})
    clinician = otp_verified_user(doctor)
    item = {
        "medication": "Atorvastatin",
        "strength": "20 mg",
        "dose": "1 tablet",
        "frequency": "Nightly",
        "quantity": 28,
    }
    rx = prescription_sign(
        actor=clinician,
        prescription=prescription_create(actor=clinician, patient=patient, items=[item]),
        otp_code=totp_code(otp_device_for(doctor)),
    )
    return {
        "rx": rx,
        "rx_draft": prescription_create(actor=clinician, patient=patient, items=[item]),
        "refill": refill_request_create(actor=patient, prescription=rx),
    }


def _conversation_objects(patient) -> dict[str, Any]:
    """The patient's care-team conversation (one message) and a question to the clinic."""
    from messaging.selectors import access_conversation_for_user
    from messaging.services import care_conversation_ensure, message_send, query_create

    care = care_conversation_ensure(actor=patient, patient=patient)
    message_send(
        access=access_conversation_for_user(patient, care.pk, record_read=False), client_msg_id="m-1", body="Hello"
    )
    query = query_create(actor=patient, patient=patient, subject="Parking", body="Where?", client_msg_id="q-1")
    return {"conversation": care, "query": query.conversation}


def _bookable(world: World) -> dict[str, Any]:
    """The `doctor` persona as a bookable provider (a profile accepting patients)."""
    from accounts.models import ProviderProfile

    ProviderProfile.objects.get_or_create(user=world.users["doctor"])
    return {"provider_id": world.users["doctor"].pk}


def _client_for(world: World, persona: str) -> Client:
    client = Client()
    if persona == "anonymous":
        return client
    user = world.users[persona]
    if user.is_staff_role:
        return otp_force_login(client, user)
    client.force_login(user)
    return client


def _outcome(response) -> Any:
    location = response.get("Location", "")
    if response.status_code == 302 and "/login/" in location:
        return LOGIN
    return response.status_code


def _matches(expected: Any, response) -> bool:
    outcome = _outcome(response)
    if expected == IN:
        return outcome != LOGIN and response.status_code < 500
    return outcome == expected


@pytest.mark.django_db
@pytest.mark.parametrize("found", HTTP_ROUTES, ids=[found.key for found in HTTP_ROUTES])
def test_each_route_answers_each_persona_as_the_matrix_says(world, found):
    entry = MATRIX.get(found.key)
    assert entry is not None, f"{found.key} ({found.route}) is not in the authorization matrix"
    kwargs = entry.kwargs(world) if entry.kwargs else {}
    path = reverse(found.key, kwargs=kwargs) if found.named else "/" + found.route
    wrong = {}
    for persona in PERSONAS:
        response = getattr(_client_for(world, persona), entry.method)(path)
        if not _matches(entry.expected[persona], response):
            wrong[persona] = (_outcome(response), entry.expected[persona])
    assert wrong == {}, f"{entry.method.upper()} {path}: persona -> (got, expected): {wrong}"


def _admin_path(found: Found) -> str:
    """A concrete path for an admin route: an existing row of its model for object ids."""
    model = None
    parts = found.route.split("/")
    if len(parts) > 3 and "<" not in parts[1] + parts[2]:
        try:
            model = apps.get_model(parts[1], parts[2])
        except LookupError:
            model = None
    kwargs = {}
    for name in found.pattern.pattern.regex.groupindex:
        if model is not None and name not in ("app_label", "url"):
            first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
            kwargs[name] = str(first if first is not None else 0)
        else:
            # The admin's catch-all and content-type shortcut get one representative value.
            kwargs[name] = {"app_label": "accounts", "url": "missing/"}.get(name, "1")
    if found.named:
        return reverse(found.key, kwargs=kwargs)
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: kwargs[match.group(1)], found.route)


@pytest.mark.django_db
def test_only_an_otp_verified_admin_gets_into_the_django_admin(world):
    wrong = []
    checked = 0
    clients = {persona: _client_for(world, persona) for persona in PERSONAS}
    for found in ADMIN_ROUTES:
        path = _admin_path(found)
        checked += 1
        expected = ADMIN_SITE_EXCEPTIONS.get(found.key, ADMIN_SITE)
        for persona in PERSONAS:
            response = clients[persona].get(path)
            if not _matches(expected[persona], response):
                wrong.append((path, persona, _outcome(response)))
    assert checked == len(ADMIN_ROUTES) > 0
    assert wrong == [], wrong[:20]


def test_a_staff_session_without_otp_is_sent_to_mfa_before_the_admin(client, admin):
    client.force_login(admin)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/mfa/")


# --- WebSockets -----------------------------------------------------------------------------


async def _ws_accepted(path: str, cookie: str | None) -> bool:
    from telemed.asgi import application

    headers = [(b"origin", b"http://127.0.0.1")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


def _ws_path(route: str, world: World) -> str:
    """A concrete path for a socket route: its ids from WS_OBJECTS (the world's objects)."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(world.objects[WS_OBJECTS[match.group(1)]].pk), route)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", sorted(WS_MATRIX))
def test_each_websocket_route_accepts_only_the_matrix_personas(world, route):
    wrong = {}
    for persona in PERSONAS:
        client = _client_for(world, persona)
        cookie = client.cookies["sessionid"].value if "sessionid" in client.cookies else None
        accepted = async_to_sync(_ws_accepted)(_ws_path(route, world), cookie)
        if accepted != WS_MATRIX[route][persona]:
            wrong[persona] = accepted
    assert wrong == {}
