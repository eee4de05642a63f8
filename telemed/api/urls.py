"""Every /api/v1/ route; apps include their `api.urls` here."""

from django.urls import include, path

from telemed.api import views

app_name = "api"
urlpatterns = [
    path("ping/", views.PingApi.as_view(), name="ping"),
    path("", include("accounts.api.urls")),
    path("", include("appointments.api.urls")),
    path("", include("records.api.urls")),
    path("", include("prescriptions.api.urls")),
    path("", include("messaging.api.urls")),
]
