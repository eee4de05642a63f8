"""The chart in real Chromium against the live ASGI server (issue 5, "Done when"): a doctor
with a care relationship records vitals and signs a note; the patient reads the note and the
vitals chart and downloads their record; a doctor without a care relationship meets a 404,
breaks the glass with a reason, and the patient sees that access, flagged, in "Who viewed my
chart". axe-core checks My health and the provider chart; screenshots at phone and desktop
widths go to /tmp/h-pages-*.png."""

import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import Page, expect

from accounts.tests.factories import PatientProfileFactory
from records.models import ClinicalNote, NoteStatus, VitalSigns
from records.services.documents import document_upload
from telemed.testing.browser import DESKTOP_VIEWPORT, assert_accessible, login

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "timezone_id": "Europe/Paris", "has_touch": True}
PHONE_SIZE = PHONE["viewport"]
SHOTS = Path("/tmp")
REASON = "Collapsed in the waiting room; allergies needed before treatment"


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"h-pages-{name}.png"), full_page=True)


def test_a_chart_from_the_doctors_vitals_and_note_to_the_patients_copy_and_access_log(
    make_page, live_asgi, transactional_db, patient, doctor, outsider_doctor
):
    PatientProfileFactory(user=patient)
    chart_url = f"{live_asgi.url}/records/patients/{patient.pk}/"

    # --- The doctor caring for the patient records vitals and signs a note. ---------------------
    desk = make_page(timezone_id="Europe/Paris")
    login(desk, live_asgi, doctor)
    desk.get_by_role("navigation", name="Main").get_by_role("link", name="Charts").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Charts")
    desk.get_by_role("link", name="Pat Patient").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Chart of Pat Patient")

    desk.get_by_text("Record vital signs").click()
    desk.get_by_label("Systolic (upper) blood pressure, mmHg").fill("128")
    desk.get_by_label("Diastolic (lower) blood pressure, mmHg").fill("82")
    desk.get_by_label("Heart rate, beats/min").fill("72")
    desk.get_by_label("Temperature, °C").fill("98.6")
    desk.get_by_role("button", name="Save the reading").click()
    # A Fahrenheit temperature is refused with the reason, on the field, and nothing is saved.
    temperature = desk.get_by_label("Temperature, °C")
    expect(temperature).to_have_attribute("aria-invalid", "true")
    expect(temperature).to_have_accessible_description(re.compile("That looks like °F; enter °C."))
    assert not VitalSigns.objects.exists()
    temperature.fill("37.1")
    desk.get_by_label("Weight, kg").fill("81.5")
    desk.get_by_label("Height, cm").fill("178")
    desk.get_by_role("button", name="Save the reading").click()
    expect(desk.get_by_role("status").filter(has_text="The vital signs were recorded.")).to_be_visible()
    expect(desk.get_by_test_id("latest-vitals")).to_contain_text("128/82")
    expect(desk.get_by_test_id("latest-vitals")).to_contain_text("25.7")  # BMI of 81.5 kg at 1.78 m
    assert_accessible(desk)
    shot(desk, "chart-desktop")
    desk.set_viewport_size(PHONE_SIZE)
    shot(desk, "chart-phone")
    desk.set_viewport_size(DESKTOP_VIEWPORT)

    desk.get_by_role("link", name="Write a note").first.click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("New visit note")
    desk.get_by_label("Subjective", exact=True).fill("Tired for two weeks, sleeping badly.")
    desk.get_by_label("Objective", exact=True).fill("BP 128/82, pulse 72, looks well.")
    desk.get_by_label("Assessment", exact=True).fill("Probable stress-related fatigue.")
    desk.get_by_label("Plan", exact=True).fill("Blood tests; review in two weeks.")
    assert_accessible(desk)
    desk.get_by_role("button", name="Sign and lock").click()
    expect(desk.get_by_role("status").filter(has_text="The note is signed and locked.")).to_be_visible()
    expect(desk.get_by_text("Signed by Dr Dana Doctor")).to_be_visible()
    assert ClinicalNote.objects.get(patient=patient).status == NoteStatus.SIGNED

    # --- The patient reads the note and the vitals chart, and downloads their record. ------------
    phone = make_page(**PHONE)
    login(phone, live_asgi, patient)
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="My health").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("My health")
    expect(phone.get_by_test_id("note")).to_contain_text("Probable stress-related fatigue.")
    expect(phone.get_by_test_id("note")).to_contain_text("Signed by Dr Dana Doctor")
    heart = phone.get_by_role("img", name="Heart rate (beats/min)")
    expect(heart).to_be_visible()
    expect(heart.locator(".trend__marker")).to_have_count(1)
    expect(heart.locator(".trend__marker title")).to_have_text(re.compile(r"^Heart rate: 72 beats/min, "))
    expect(heart).to_have_accessible_description(re.compile("1 reading on .*; latest 72 beats/min"))
    expect(phone.get_by_role("img", name="Blood pressure (mmHg)").locator(".trend__marker")).to_have_count(2)
    expect(phone.get_by_test_id("allergies-summary")).to_contain_text("No allergies recorded.")
    assert_accessible(phone)
    shot(phone, "my-health-phone")
    phone.set_viewport_size(DESKTOP_VIEWPORT)
    shot(phone, "my-health-desktop")
    phone.set_viewport_size(PHONE_SIZE)

    with phone.expect_download() as pdf:
        phone.get_by_role("link", name="Download my record (PDF)").click()
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF-")
    with phone.expect_download() as copy:
        phone.get_by_role("link", name="Download my record (JSON)").click()
    record = Path(copy.value.path()).read_text(encoding="utf-8")
    assert "Probable stress-related fatigue." in record
    json.loads(record)

    # --- A doctor without a care relationship: 404, then break-glass with a reason. --------------
    er = make_page()
    login(er, live_asgi, outsider_doctor)
    refused = er.goto(chart_url)
    assert refused is not None and refused.status == 404
    expect(er.get_by_text("Pat Patient")).to_have_count(0)
    er.get_by_role("navigation", name="Main").get_by_role("link", name="Emergency access").click()
    er.get_by_label("Patient (email or medical record number)").fill(patient.email)
    er.get_by_label("Reason for emergency access").fill(REASON)
    er.get_by_role("button", name="Open emergency access").click()
    expect(er.get_by_role("status")).to_contain_text("You have emergency access to the chart of Pat Patient")
    er.get_by_role("link", name="Open the chart").click()
    assert er.url.endswith(chart_url)
    banner = er.get_by_test_id("breakglass-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(REASON)
    expect(er.get_by_test_id("note")).to_contain_text("Probable stress-related fatigue.")
    assert_accessible(er)
    shot(er, "chart-breakglass")

    # --- The patient sees that access, flagged, with its reason. ---------------------------------
    phone.goto(f"{live_asgi.url}/records/")
    phone.get_by_role("link", name="Who viewed my chart").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Who viewed my chart")
    log = phone.get_by_test_id("access-log")
    flagged = log.locator(".log__item--breakglass").filter(has_text="Viewed your chart")
    expect(flagged.first).to_contain_text("Dr Olga Outsider")
    expect(flagged.first).to_contain_text(f"Reason given: {REASON}")
    expect(log.locator(".log__item--denied").filter(has_text="Dr Olga Outsider").first).to_contain_text("Refused")
    expect(log.locator(".log__item").filter(has_text="Dr Dana Doctor").first).to_be_visible()
    assert_accessible(phone)
    shot(phone, "access-log-phone")


def test_my_health_and_its_chart_read_without_javascript(make_page, live_asgi, transactional_db, chart):
    letter = b"Dear Pat,\nyour results are normal.\n"
    document_upload(
        actor=chart.patient, patient=chart.patient, upload=SimpleUploadedFile("letter.txt", letter), title="Letter"
    )
    page = make_page(java_script_enabled=False)
    login(page, live_asgi, chart.patient)

    page.goto(f"{live_asgi.url}/records/")

    expect(page.get_by_role("img", name="Blood pressure (mmHg)")).to_be_visible()
    expect(page.get_by_role("heading", name="Visit notes")).to_be_visible()
    page.get_by_text("All readings as a table").click()
    expect(page.get_by_role("table", name="Vital signs, newest first")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="142/91")).to_have_count(1)
    # The download streams through the ASGI server, verified, as an attachment.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download Letter").click()
    assert download.value.suggested_filename == "letter.txt"
    assert Path(download.value.path()).read_bytes() == letter
