"""Sign-in and account endpoints under /api/v1/ (included by telemed/api/urls.py)."""

from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/token/", views.TokenObtainApi.as_view(), name="token"),
    path("auth/token/refresh/", views.TokenRefreshApi.as_view(), name="token_refresh"),
    path("auth/logout/", views.LogoutApi.as_view(), name="logout"),
    path("auth/register/", views.RegisterApi.as_view(), name="register"),
    path("auth/ws-ticket/", views.WsTicketApi.as_view(), name="ws_ticket"),
    path("me/", views.MeApi.as_view(), name="me"),
    path("me/profile/", views.MeProfileApi.as_view(), name="me_profile"),
]
