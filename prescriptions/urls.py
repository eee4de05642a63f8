"""Pages of the prescriptions app, under /prescriptions/ (the public verify page is mounted at
/verify/rx/<public id> by telemed.urls)."""

from django.urls import path

from prescriptions.views import keys, pages, refills

app_name = "prescriptions"

urlpatterns = [
    path("", pages.prescription_list, name="list"),
    path("new/", pages.prescription_new, name="new"),
    path("<int:pk>/", pages.prescription_detail, name="detail"),
    path("<int:pk>/edit/", pages.prescription_edit, name="edit"),
    path("<int:pk>/sign/", pages.prescription_sign, name="sign"),
    path("<int:pk>/cancel/", pages.prescription_cancel, name="cancel"),
    path("<int:pk>/revise/", pages.prescription_revise, name="revise"),
    path("<int:pk>/pdf/", pages.prescription_pdf, name="pdf"),
    path("<int:pk>/refill/", refills.refill_request, name="refill_request"),
    path("refills/", refills.refill_queue, name="refill_queue"),
    path("refills/<int:pk>/approve/", refills.refill_approve, name="refill_approve"),
    path("refills/<int:pk>/decline/", refills.refill_decline, name="refill_decline"),
    path("keys/", keys.key_list, name="keys"),
    path("keys/rotate/", keys.key_rotate, name="key_rotate"),
]
