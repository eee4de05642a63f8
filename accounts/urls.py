from django.urls import path

from accounts.views import care, invite, login, mfa, password, profile, proxy, register, sessions, staff_admin

app_name = "accounts"
urlpatterns = [
    path("login/", login.PortalLoginView.as_view(), name="login"),
    path("logout/", login.logout_view, name="logout"),
    path("mfa/challenge/", mfa.mfa_challenge, name="mfa_challenge"),
    path("mfa/setup/", mfa.mfa_setup, name="mfa_setup"),
    path("security/", mfa.security, name="security"),
    path("security/backup-codes/", mfa.backup_codes_regenerate, name="backup_codes_regenerate"),
    path("security/disable-mfa/", mfa.mfa_disable_view, name="mfa_disable"),
    path("sessions/", sessions.sessions_list, name="sessions"),
    path("sessions/end/", sessions.session_end, name="session_end"),
    path("sessions/end-all/", sessions.sessions_end_all, name="sessions_end_all"),
    path("sessions/ping/", sessions.session_ping, name="session_ping"),
    path("staff/users/", staff_admin.staff_users, name="staff_users"),
    path("staff/users/<int:user_id>/", staff_admin.staff_user, name="staff_user"),
    path("staff/users/<int:user_id>/deactivate/", staff_admin.staff_deactivate, name="staff_deactivate"),
    path("staff/users/<int:user_id>/reset-mfa/", staff_admin.staff_mfa_reset, name="staff_mfa_reset"),
    path("staff/unlock/", staff_admin.staff_unlock, name="staff_unlock"),
    # Registration, email verification, password reset, staff invitations (accounts.views.register/password/invite).
    path("register/", register.register, name="register"),
    path("register/done/", register.register_done, name="register_done"),
    path("verify/resend/", register.verify_resend, name="verify_resend"),
    path("verify/<uidb64>/<token>/", register.verify_email, name="verify_email"),
    path("password/reset/", password.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/done/", password.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        password.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password/reset/complete/", password.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("staff/invite/", invite.staff_invite_view, name="staff_invite"),
    path("invite/<uidb64>/<token>/", invite.invite_accept, name="invite_accept"),
    # Profile, proxy access, care teams and break-glass (accounts.views.profile/proxy/care).
    path("profile/", profile.profile, name="profile"),
    path("proxies/", proxy.proxies, name="proxies"),
    path("proxies/switch/", proxy.proxy_switch, name="proxy_switch"),
    path("proxies/<int:grant_id>/revoke/", proxy.proxy_revoke_view, name="proxy_revoke"),
    path("emergency-access/", care.breakglass_open_view, name="breakglass_open"),
    path("emergency-access/<int:access_id>/", care.breakglass_detail, name="breakglass_detail"),
    path("staff/emergency-access/", care.breakglass_review_list, name="breakglass_review"),
    path(
        "staff/emergency-access/<int:access_id>/review/",
        care.breakglass_review_mark,
        name="breakglass_review_mark",
    ),
    path("staff/care-teams/", care.care_assign, name="care_assign"),
    path("staff/care-teams/<int:relationship_id>/end/", care.care_end, name="care_end"),
]
