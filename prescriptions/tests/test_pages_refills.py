"""Refill requests through the pages: the patient asks, the doctor's queue shows it (with the
safety check), approving signs a new prescription the patient then sees, declining tells the
patient why; and who meets a 403 or a 404."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from prescriptions.models import Prescription, PrescriptionStatus, PrescriptionWarning, RefillRequest, RefillStatus
from prescriptions.tests.conftest import AMOXICILLIN
from prescriptions.tests.test_pages_patient import acting_for
from prescriptions.tests.test_pages_prescriber import detail, signed_in, text

pytestmark = pytest.mark.django_db

QUEUE = "/prescriptions/refills/"


def ask(client, prescription, note="Running low, two left."):
    return client.post(reverse("prescriptions:refill_request", args=[prescription.pk]), {"note": note})


def approve(client, authenticator, refill, **fields):
    data = {"otp_code": authenticator.code(), **fields}
    with authenticator.signing():
        return client.post(reverse("prescriptions:refill_approve", args=[refill.pk]), data)


def decline(client, refill, reason):
    return client.post(reverse("prescriptions:refill_decline", args=[refill.pk]), {"reason": reason})


@pytest.fixture
def refill(patient, signed):
    from prescriptions.services.refills import refill_request_create

    return refill_request_create(actor=patient, prescription=signed, note="Running low, two left.")


def test_the_queue_is_named_refill_queue():
    assert reverse("prescriptions:refill_queue") == QUEUE


def test_a_refill_request_shows_to_the_patient_and_on_the_doctors_queue(client, patient, prescriber, signed):
    signed_in(client, patient)

    response = ask(client, signed)
    mine = text(client.get(response["Location"]))
    client.logout()
    queue = signed_in(client, prescriber).get(QUEUE)

    assert response["Location"] == detail(signed)
    assert "Your refill request was sent to Dr Dana Doctor." in mine
    assert "Refill requested on" in mine and "— waiting for Dr Dana Doctor." in mine
    assert "Request refill" not in mine
    assert queue.status_code == 200
    page = text(queue)
    assert "1 request waiting, oldest first." in page
    assert "Pat Patient" in page and f"Prescription {signed.public_id}" in page
    assert "Atorvastatin 20 mg" in page
    assert "The patient's note: “Running low, two left.”" in page
    assert "Authenticator code" in page and "Approve and sign" in page and "Reason to decline" in page
    assert "No warnings against this patient's recorded allergies and medicines." in page
    assert "Reason to override" not in page


def test_asking_from_the_list_returns_to_the_list(client, patient, signed):
    signed_in(client, patient)

    response = client.post(reverse("prescriptions:refill_request", args=[signed.pk]), {"note": "", "from": "list"})

    assert response["Location"] == reverse("prescriptions:list")
    assert RefillRequest.objects.get(prescription=signed).note == ""


def test_a_second_request_while_one_is_open_is_refused_with_a_clear_message(client, patient, signed, refill):
    response = ask(signed_in(client, patient), signed, note="Again?")

    assert response.status_code == 409
    assert "A refill request for this prescription is already waiting for the prescriber (sent" in text(response)
    assert RefillRequest.objects.filter(prescription=signed).count() == 1


def test_a_proxy_asks_for_a_refill_for_the_patient(client, proxy, patient, signed):
    response = ask(acting_for(client, proxy, patient), signed)

    assert response.status_code == 302
    assert RefillRequest.objects.get(prescription=signed).requested_by == proxy


def test_the_queue_shows_the_doctor_who_asked_when_a_proxy_did(client, proxy, patient, prescriber, signed):
    from prescriptions.services.refills import refill_request_create

    refill_request_create(actor=proxy, prescription=signed)

    page = text(signed_in(client, prescriber).get(QUEUE))

    assert "by Paula Proxy (proxy)" in page and "No note." in page


def test_approving_with_a_code_signs_a_new_prescription_the_patient_then_sees(
    client, patient, prescriber, signed, refill, authenticator
):
    signed_in(client, prescriber)

    response = approve(client, authenticator, refill)

    refill.refresh_from_db()
    signed.refresh_from_db()
    new = refill.new_prescription
    assert response["Location"] == detail(new)
    assert refill.status == RefillStatus.APPROVED
    assert new.status == PrescriptionStatus.SIGNED and new.supersedes == signed
    assert signed.status == PrescriptionStatus.SUPERSEDED
    assert f"Refill approved: the new prescription {new.public_id} is signed" in text(client.get(response["Location"]))
    assert "No refill requests are waiting." in text(client.get(QUEUE))
    client.logout()
    listed = signed_in(client, patient).get(reverse("prescriptions:list"))
    page = text(listed)
    assert page.index(new.public_id) < page.index("Past: cancelled or replaced") < page.index(signed.public_id)
    assert f"Replaced by prescription {new.public_id}" in page
    assert "Refill approved on" in page and f'href="{detail(new)}"' in listed.content.decode()


@pytest.mark.parametrize(
    ("code", "message"),
    [("", "Enter the 6-digit code from your authenticator app"), ("000000", "That code is not right")],
)
def test_approving_without_a_right_code_fails_clearly_and_the_request_stays_open(
    client, prescriber, refill, authenticator, code, message
):
    response = approve(signed_in(client, prescriber), authenticator, refill, otp_code=code)

    assert response.status_code == 400
    assert message in text(response)
    assert f'id="id_approve{refill.pk}_otp_code-error"' in response.content.decode()
    refill.refresh_from_db()
    assert refill.status == RefillStatus.OPEN
    assert Prescription.objects.count() == 1


def test_a_refill_that_warns_needs_a_reason_to_override(client, patient, prescriber, chart, sign, authenticator):
    from prescriptions.services.prescribing import prescription_create
    from prescriptions.services.refills import refill_request_create

    amoxicillin = sign(
        prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN]), override_reason="Tolerated."
    )
    refill = refill_request_create(actor=patient, prescription=amoxicillin)
    signed_in(client, prescriber)

    queue = text(client.get(QUEUE))
    refused = approve(client, authenticator, refill)
    approved = approve(client, authenticator, refill, override_reason="Tolerated it twice since.")

    assert "1 safety warning" in queue and "Penicillin" in queue and "Reason to override" in queue
    assert refused.status_code == 409
    assert "give a reason to override" in text(refused)
    assert f'id="id_approve{refill.pk}_override_reason-error"' in refused.content.decode()
    assert approved.status_code == 302
    refill.refresh_from_db()
    warning = PrescriptionWarning.objects.get(prescription=refill.new_prescription)
    assert warning.override_reason == "Tolerated it twice since."
    assert AuditEvent.objects.filter(
        action="prescriptions.warning.override", target_id=str(refill.new_prescription.pk)
    ).exists()


def test_declining_needs_a_reason(client, prescriber, refill):
    response = decline(signed_in(client, prescriber), refill, "  ")

    assert response.status_code == 400
    assert "Tell the patient why the refill is declined." in text(response)
    refill.refresh_from_db()
    assert refill.status == RefillStatus.OPEN


def test_a_declined_refill_shows_the_reason_to_the_patient(client, patient, prescriber, signed, refill):
    response = decline(signed_in(client, prescriber), refill, "Please book a review first.")
    client.logout()

    listed = text(signed_in(client, patient).get(reverse("prescriptions:list")))
    one = text(client.get(detail(signed)))

    assert response["Location"] == QUEUE
    for page in (listed, one):
        assert "Refill declined on" in page and "Reason: Please book a review first." in page
    assert "Request refill" in one


def test_a_request_answered_meanwhile_says_so(client, prescriber, refill, authenticator):
    signed_in(client, prescriber)
    decline(client, refill, "Review first.")

    response = approve(client, authenticator, refill)

    assert response.status_code == 409
    assert "This request was already declined." in text(response)


def test_a_refill_of_a_prescription_being_revised_is_refused_clearly(client, prescriber, signed, refill, authenticator):
    from prescriptions.services.prescribing import prescription_revise

    revision = prescription_revise(actor=prescriber, prescription=signed)

    response = approve(signed_in(client, prescriber), authenticator, refill)

    assert response.status_code == 409
    assert f"A revision of this prescription is being written ({revision.public_id}, a draft)" in text(response)
    refill.refresh_from_db()
    assert refill.status == RefillStatus.OPEN


# --- Who meets what ---------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["nurse_verified", "patient", "proxy", "admin", "outsider_patient"])
def test_only_doctors_have_a_refill_queue(client, request, persona):
    user = request.getfixturevalue(persona)

    response = signed_in(client, user).get(QUEUE)

    assert response.status_code == 404


def test_another_doctor_sees_an_empty_queue(client, outsider_doctor, refill):
    page = text(signed_in(client, outsider_doctor).get(QUEUE))

    assert "No refill requests are waiting." in page


@pytest.mark.parametrize("persona", ["nurse_verified", "patient"])
@pytest.mark.parametrize("name", ["prescriptions:refill_approve", "prescriptions:refill_decline"])
def test_a_nurse_or_the_patient_cannot_answer_a_request(client, request, refill, persona, name):
    user = request.getfixturevalue(persona)

    response = signed_in(client, user).post(reverse(name, args=[refill.pk]), {"otp_code": "123456", "reason": "No"})

    assert response.status_code == 403
    refill.refresh_from_db()
    assert refill.status == RefillStatus.OPEN


@pytest.mark.parametrize("persona", ["outsider_doctor", "outsider_patient", "admin"])
@pytest.mark.parametrize("name", ["prescriptions:refill_approve", "prescriptions:refill_decline"])
def test_outsiders_cannot_answer_a_request(client, request, refill, persona, name):
    user = request.getfixturevalue(persona)

    response = signed_in(client, user).post(reverse(name, args=[refill.pk]), {"otp_code": "123456", "reason": "No"})

    assert response.status_code == 404


@pytest.mark.parametrize("persona", ["outsider_doctor", "outsider_patient", "admin"])
def test_outsiders_cannot_ask_for_a_refill(client, request, signed, persona):
    user = request.getfixturevalue(persona)

    response = ask(signed_in(client, user), signed)

    assert response.status_code == 404
    assert not RefillRequest.objects.exists()


@pytest.mark.parametrize("persona", ["prescriber", "nurse_verified"])
def test_clinicians_do_not_ask_for_refills(client, request, signed, persona):
    user = request.getfixturevalue(persona)

    response = ask(signed_in(client, user), signed)

    assert response.status_code == 403
    assert not RefillRequest.objects.exists()


@pytest.mark.parametrize(
    ("method", "name", "needs_pk"),
    [
        ("get", "prescriptions:refill_queue", False),
        ("post", "prescriptions:refill_request", True),
        ("post", "prescriptions:refill_approve", True),
        ("post", "prescriptions:refill_decline", True),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, refill, method, name, needs_pk):
    url = reverse(name, args=[refill.pk]) if needs_pk else reverse(name)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_queue_reads_a_fixed_number_of_queries_besides_each_requests_safety_check(
    client, patient, prescriber, sign, django_assert_max_num_queries
):
    """Each request shown runs the safety check against the chart (audited); everything else
    is read in a fixed number of queries, and the queue shows at most a page of requests."""
    from prescriptions.services.prescribing import prescription_create
    from prescriptions.services.refills import refill_request_create
    from prescriptions.tests.test_pages_prescriber import METFORMIN
    from prescriptions.views.refills import QUEUE_PAGE

    def one_more():
        rx = sign(prescription_create(actor=prescriber, patient=patient, items=[METFORMIN]), override_reason="Yes.")
        refill_request_create(actor=patient, prescription=rx)

    signed_in(client, prescriber)
    counts = []
    for _ in range(3):
        one_more()
        with django_assert_max_num_queries(200) as measured:
            client.get(QUEUE)
        counts.append(len(measured.captured_queries))
    per_request = counts[2] - counts[1]
    for _ in range(QUEUE_PAGE):
        one_more()

    with django_assert_max_num_queries(counts[2] + (QUEUE_PAGE - 3) * per_request):
        response = client.get(QUEUE)

    page = text(response)
    assert f"{QUEUE_PAGE + 3} requests waiting" in page
    assert "3 more waiting: they appear here as you answer these." in page
