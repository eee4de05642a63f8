from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.mfa.admin_site import PortalAdminSite
from prescriptions.views import verify
from telemed import health, views
from telemed.api.docs import ApiDocsView

# The admin needs an OTP-verified session and signs in through the portal's own login.
admin.site.__class__ = PortalAdminSite

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("appointments/", include("appointments.urls")),
    path("records/", include("records.urls")),
    path("prescriptions/", include("prescriptions.urls")),
    path("messages/", include("messaging.urls")),
    # What the paper's QR code opens (public): no trailing slash, the URL is printed.
    path("verify/rx/<str:public_id>", verify.rx_verify_page, name="rx_verify"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("telemed.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = "telemed.views.bad_request"
handler403 = "telemed.views.permission_denied"
handler404 = "telemed.views.page_not_found"
handler500 = "telemed.views.server_error"

admin.site.site_header = "Telemed administration"
admin.site.site_title = "Telemed admin"
