"""Appointments endpoints under /api/v1/ (included by telemed/api/urls.py)."""

from django.urls import path

from appointments.api import views

urlpatterns = [
    path("slots/", views.SlotsApi.as_view(), name="slots"),
    path("providers/", views.ProvidersApi.as_view(), name="providers"),
    path("appointment-types/", views.AppointmentTypesApi.as_view(), name="appointment_types"),
    path("appointments/", views.AppointmentsApi.as_view(), name="appointments"),
    path("appointments/<int:appointment_id>/", views.AppointmentDetailApi.as_view(), name="appointment_detail"),
    path("appointments/<int:appointment_id>/cancel/", views.AppointmentCancelApi.as_view(), name="appointment_cancel"),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        views.AppointmentRescheduleApi.as_view(),
        name="appointment_reschedule",
    ),
    path("appointments/<int:appointment_id>/status/", views.AppointmentStatusApi.as_view(), name="appointment_status"),
    path("appointments/<int:appointment_id>/ics/", views.AppointmentIcsApi.as_view(), name="appointment_ics"),
    path("waitlist/", views.WaitlistApi.as_view(), name="waitlist"),
    path("waitlist/<int:entry_id>/", views.WaitlistEntryApi.as_view(), name="waitlist_entry"),
    path("waitlist/offers/<int:offer_id>/", views.WaitlistOfferApi.as_view(), name="waitlist_offer"),
    path(
        "waitlist/offers/<int:offer_id>/accept/",
        views.WaitlistOfferAcceptApi.as_view(),
        name="waitlist_offer_accept",
    ),
    path(
        "waitlist/offers/<int:offer_id>/decline/",
        views.WaitlistOfferDeclineApi.as_view(),
        name="waitlist_offer_decline",
    ),
]
