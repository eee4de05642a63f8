"""Issue 6's browser flow in real Chromium against the live ASGI server: a doctor writes a
prescription, meets the allergy warning, overrides it with a reason and signs with a fresh
authenticator code; the patient downloads the PDF; the QR code read from the rendered page
image opens the public verify page, which says "Valid"; the patient asks for a refill, the
doctor approves it (signing again), and the patient sees the new prescription. Screenshots
go to /tmp/rx-*.png."""

import io
import re
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from playwright.sync_api import Page, expect

from accounts.mfa.testing import totp_code_unused, totp_device_enrol
from accounts.models import ProviderProfile
from accounts.tests.factories import PatientProfileFactory
from prescriptions.models import Prescription, PrescriptionStatus, PrescriptionWarning, RefillRequest
from records.tests.factories import AllergyFactory
from telemed.testing.browser import assert_accessible, login

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True}
REASON = "Tolerated amoxicillin in 2023 without any reaction; rash was to flucloxacillin."


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(Path("/tmp") / f"rx-{name}.png"), full_page=True)


def qr_text_of(pdf: bytes) -> str:
    """The QR code on the PDF's first page, as a phone camera would read it."""
    document = pypdfium2.PdfDocument(io.BytesIO(pdf))
    image = document[0].render(scale=200 / 72).to_pil()
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, f"expected one code on the paper, found {len(found)}"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


def test_a_prescription_from_the_doctor_to_the_pharmacy_and_back_as_a_refill(
    make_page, live_asgi, transactional_db, settings, patient, doctor
):
    PatientProfileFactory(user=patient, date_of_birth="1980-05-17")
    ProviderProfile.objects.update_or_create(
        user=doctor, defaults={"licence_number": "GMC 7654321", "licence_jurisdiction": "United Kingdom"}
    )
    AllergyFactory(patient=patient, recorded_by=doctor, substance="Penicillin", reaction="Hives")
    totp_device_enrol(doctor)

    # --- The doctor writes the prescription from the chart. -------------------------------------
    desk = make_page()
    login(desk, live_asgi, doctor)
    # Two more authenticators of the doctor's, added after the sign-in used the first: each
    # accepts its own codes once, so signing and approving wait for no new 30 s step.
    signing, approving = totp_device_enrol(doctor), totp_device_enrol(doctor)
    desk.goto(f"{live_asgi.url}/records/patients/{patient.pk}/")
    desk.get_by_role("link", name="Write a prescription").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("New prescription")
    first = desk.get_by_role("group", name="Medicine 1")
    first.get_by_label("Medicine", exact=True).fill("Amoxicillin")
    first.get_by_label("Strength").fill("500 mg")
    first.get_by_label("Form").select_option("capsule")
    first.get_by_label("Dose").fill("1 capsule")
    first.get_by_label("How often").fill("Three times a day")
    first.get_by_label("For how long").fill("7 days")
    first.get_by_label("Quantity").fill("21")
    first.get_by_label("Unit").fill("capsules")
    first.get_by_label("Refills").fill("1")
    desk.get_by_role("button", name="Save draft").click()

    # The safety check warns about the penicillin allergy; signing without a reason is refused.
    warnings = desk.get_by_test_id("warnings")
    expect(warnings).to_contain_text("allergic to Penicillin")
    assert_accessible(desk)
    shot(desk, "draft-with-warning")
    desk.get_by_label("Authenticator code").fill(totp_code_unused(signing))
    desk.get_by_role("button", name="Sign prescription").click()
    expect(desk.get_by_text("Give a reason to override the warnings").first).to_be_visible()
    prescription = Prescription.objects.get(patient=patient)
    assert prescription.status == PrescriptionStatus.DRAFT

    desk.get_by_label("Reason to override").fill(REASON)
    # The refused attempt did not spend the code (refusals that need no code come first).
    desk.get_by_label("Authenticator code").fill(totp_code_unused(signing))
    desk.get_by_role("button", name="Sign prescription").click()
    expect(desk.get_by_role("status").filter(has_text="The prescription is signed")).to_be_visible()
    prescription.refresh_from_db()
    assert prescription.status == PrescriptionStatus.SIGNED
    assert PrescriptionWarning.objects.get(prescription=prescription).override_reason == REASON
    shot(desk, "signed")

    # --- The patient downloads the paper; its QR code opens the verify page: "Valid". ----------
    phone = make_page(**PHONE)
    login(phone, live_asgi, patient)
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="Prescriptions").click()
    card = phone.get_by_test_id("prescription").filter(has_text="Amoxicillin")
    expect(card).to_be_visible()
    assert_accessible(phone)
    shot(phone, "my-prescriptions")
    with phone.expect_download() as download:
        card.get_by_role("link", name=re.compile("Download PDF")).click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")

    url = qr_text_of(pdf)
    path = f"/verify/rx/{prescription.public_id}?c={prescription.check_code}"
    assert url == f"{settings.SITE_URL}{path}"
    # The QR code names the portal's public address (SITE_URL); here that portal is the live
    # server, on a port chosen at random.
    pharmacy = make_page(**PHONE)
    pharmacy.goto(url.replace(settings.SITE_URL, live_asgi.url, 1))
    expect(pharmacy.get_by_test_id("verdict")).to_have_attribute("data-verdict", "valid")
    expect(pharmacy.get_by_role("heading", level=1)).to_have_text("Valid")
    expect(pharmacy.get_by_text("Amoxicillin").first).to_be_visible()
    expect(pharmacy.get_by_text("GMC 7654321").first).to_be_visible()
    shot(pharmacy, "verify-valid")

    # --- The patient asks for a refill; the doctor approves it, signing again. ----------------
    card.get_by_text("Ask for a refill").click()
    card.get_by_label(re.compile("Note")).fill("Still coughing; the course ran out.")
    card.get_by_role("button", name="Request refill").click()
    expect(phone.get_by_test_id("refill-status").first).to_contain_text("waiting")
    assert RefillRequest.objects.get().prescription == prescription

    desk.goto(f"{live_asgi.url}/prescriptions/refills/")
    request = desk.get_by_test_id("refill-request")
    expect(request).to_contain_text("Still coughing")
    request.get_by_label("Reason to override").fill(REASON)
    request.get_by_label("Authenticator code").fill(totp_code_unused(approving))
    shot(desk, "refill-queue")
    request.get_by_role("button", name=re.compile("^Approve and sign")).click()
    expect(desk.get_by_role("status").first).to_be_visible()

    renewed = Prescription.objects.exclude(pk=prescription.pk).get(patient=patient)
    assert renewed.status == PrescriptionStatus.SIGNED
    assert renewed.supersedes == prescription
    phone.reload()
    expect(phone.locator(f"#rx-{renewed.pk}")).to_contain_text("Valid")
    expect(phone.locator(f"#rx-{prescription.pk}")).to_contain_text("Replaced")
    shot(phone, "after-refill")
    # The old paper now says it was replaced.
    pharmacy.reload()
    expect(pharmacy.get_by_test_id("verdict")).to_have_attribute("data-verdict", "superseded")
