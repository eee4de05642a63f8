"""The records API under /api/v1/."""

from django.urls import path, re_path

from records.api import export, views

# The four structured sections one entry may belong to (see views.ENTRY_KINDS).
KIND = r"(?P<kind>allergies|conditions|medications|immunizations)"

urlpatterns = [
    # --- chart sections, entries, notes, vitals, documents ---
    path("patients/<int:patient_id>/chart/", views.ChartApi.as_view(), name="records_chart"),
    path("patients/<int:patient_id>/allergies/", views.AllergiesApi.as_view(), name="records_allergies"),
    path("patients/<int:patient_id>/conditions/", views.ConditionsApi.as_view(), name="records_conditions"),
    path("patients/<int:patient_id>/medications/", views.MedicationsApi.as_view(), name="records_medications"),
    path("patients/<int:patient_id>/immunizations/", views.ImmunizationsApi.as_view(), name="records_immunizations"),
    path("patients/<int:patient_id>/vitals/", views.VitalsApi.as_view(), name="records_vitals"),
    path("patients/<int:patient_id>/notes/", views.NotesApi.as_view(), name="records_notes"),
    path("patients/<int:patient_id>/documents/", views.DocumentsApi.as_view(), name="records_documents"),
    re_path(rf"^records/{KIND}/(?P<entry_id>[0-9]+)/$", views.EntryApi.as_view(), name="records_entry"),
    re_path(
        rf"^records/{KIND}/(?P<entry_id>[0-9]+)/entered-in-error/$",
        views.EntryErrorApi.as_view(),
        name="records_entry_error",
    ),
    path(
        "records/vitals/<int:vitals_id>/acknowledge/",
        views.VitalsAcknowledgeApi.as_view(),
        name="records_vitals_acknowledge",
    ),
    path(
        "records/vitals/<int:vitals_id>/entered-in-error/", views.VitalsErrorApi.as_view(), name="records_vitals_error"
    ),
    path("records/notes/<int:note_id>/", views.NoteApi.as_view(), name="records_note"),
    path("records/notes/<int:note_id>/sign/", views.NoteSignApi.as_view(), name="records_note_sign"),
    path("records/notes/<int:note_id>/amendments/", views.NoteAmendApi.as_view(), name="records_note_amend"),
    path("records/documents/<uuid:public_id>/", views.DocumentApi.as_view(), name="records_document"),
    path(
        "records/documents/<uuid:public_id>/download/",
        views.DocumentDownloadApi.as_view(),
        name="records_document_download",
    ),
    path(
        "records/documents/<uuid:public_id>/entered-in-error/",
        views.DocumentErrorApi.as_view(),
        name="records_document_error",
    ),
    path("me/access-log/", views.AccessLogApi.as_view(), name="records_access_log"),
    # --- export (the patient's copy) ---
    path("me/record/export/json/", export.RecordExportJsonApi.as_view(), name="records_export_json"),
    path("me/record/export/pdf/", export.RecordExportPdfApi.as_view(), name="records_export_pdf"),
]
