"""Pages of the chart (records)."""

from django.urls import path

from records.views import access_log, chart, documents, export, notes

app_name = "records"
urlpatterns = [
    # --- pages (chart, notes, vitals, documents, access log) ---
    path("", chart.my_health, name="my_health"),
    path("access-log/", access_log.access_log, name="access_log"),
    path("patients/", chart.patients, name="patients"),
    path("patients/<int:patient_id>/", chart.chart, name="chart"),
    path("patients/<int:patient_id>/allergies/", chart.allergy_add, name="allergy_add"),
    path("patients/<int:patient_id>/problems/", chart.condition_add, name="condition_add"),
    path("patients/<int:patient_id>/medications/", chart.medication_add, name="medication_add"),
    path("patients/<int:patient_id>/immunizations/", chart.immunization_add, name="immunization_add"),
    path("patients/<int:patient_id>/vitals/", chart.vitals_add, name="vitals_add"),
    path("patients/<int:patient_id>/documents/", documents.document_upload_view, name="document_upload"),
    path("patients/<int:patient_id>/notes/new/", notes.note_new, name="note_new"),
    path("entries/<str:kind>/<int:entry_id>/edit/", chart.entry_edit, name="entry_edit"),
    path("entries/<str:kind>/<int:entry_id>/entered-in-error/", chart.entry_error, name="entry_error"),
    path("vitals/<int:vitals_id>/acknowledge/", chart.vitals_acknowledge_view, name="vitals_acknowledge"),
    path("notes/<int:note_id>/", notes.note_detail, name="note"),
    path("notes/<int:note_id>/amend/", notes.note_amend_view, name="note_amend"),
    path("notes/<int:note_id>/discard/", notes.note_discard_view, name="note_discard"),
    path("documents/<uuid:public_id>/download/", documents.document_download, name="document_download"),
    path("documents/<uuid:public_id>/withdraw/", documents.document_withdraw, name="document_withdraw"),
    # --- export (the patient's copy) ---
    path("export.json", export.export_json, name="export_json"),
    path("export.pdf", export.export_pdf, name="export_pdf"),
]
