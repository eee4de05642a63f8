"""The prescriptions API under /api/v1/."""

from django.urls import path

from prescriptions.api import views

urlpatterns = [
    # --- prescriptions ---
    path("prescriptions/", views.PrescriptionsApi.as_view(), name="prescriptions_list"),
    path("prescriptions/<int:prescription_id>/", views.PrescriptionApi.as_view(), name="prescriptions_detail"),
    path(
        "prescriptions/<int:prescription_id>/check/", views.PrescriptionCheckApi.as_view(), name="prescriptions_check"
    ),
    path("prescriptions/<int:prescription_id>/sign/", views.PrescriptionSignApi.as_view(), name="prescriptions_sign"),
    path(
        "prescriptions/<int:prescription_id>/cancel/",
        views.PrescriptionCancelApi.as_view(),
        name="prescriptions_cancel",
    ),
    path(
        "prescriptions/<int:prescription_id>/revise/",
        views.PrescriptionReviseApi.as_view(),
        name="prescriptions_revise",
    ),
    path("prescriptions/<int:prescription_id>/pdf/", views.PrescriptionPdfApi.as_view(), name="prescriptions_pdf"),
    # --- refill requests ---
    path(
        "prescriptions/<int:prescription_id>/refill-requests/",
        views.PrescriptionRefillRequestApi.as_view(),
        name="prescriptions_refill_request",
    ),
    path("refill-requests/", views.RefillRequestsApi.as_view(), name="prescriptions_refill_requests"),
    path(
        "refill-requests/<int:refill_id>/approve/",
        views.RefillRequestApproveApi.as_view(),
        name="prescriptions_refill_approve",
    ),
    path(
        "refill-requests/<int:refill_id>/decline/",
        views.RefillRequestDeclineApi.as_view(),
        name="prescriptions_refill_decline",
    ),
    # --- prescribers' keys ---
    path("prescriber-keys/", views.PrescriberKeysApi.as_view(), name="prescriptions_keys"),
    path("prescriber-keys/rotate/", views.PrescriberKeyRotateApi.as_view(), name="prescriptions_key_rotate"),
    # --- public: the paper's codes are the credential ---
    path("verify/rx/<str:public_id>/", views.VerifyApi.as_view(), name="prescriptions_verify"),
    path("verify/rx/<str:public_id>/dispense/", views.DispenseApi.as_view(), name="prescriptions_dispense"),
]
