"""Every write of the accounts app, split by topic (STYLE.md "Layers").

Import from here: `from accounts.services import care_relationship_start`.
"""

from accounts.services.access import (
    breakglass_open,
    breakglass_review,
    care_relationship_end,
    care_team_assign,
    proxy_grant,
    proxy_revoke,
)
from accounts.services.mfa import (
    backup_code_use,
    backup_codes_generate,
    mfa_code_verify,
    mfa_disable,
    mfa_reset,
    totp_enrol_confirm,
    totp_enrol_start,
    totp_verify,
)
from accounts.services.profiles import patient_profile_ensure, patient_profile_update, provider_profile_update
from accounts.services.registration import (
    email_verification_resend,
    email_verify,
    invitation_accept,
    password_reset_complete,
    patient_register,
    staff_invite,
)
from accounts.services.sessions import (
    user_session_close,
    user_session_end,
    user_session_start,
    user_sessions_end_all,
)
from accounts.services.staff_admin import user_deactivate, user_unlock
from accounts.services.tokens import (
    token_family_revoke,
    token_logout,
    token_obtain,
    token_refresh,
    ws_ticket_consume,
    ws_ticket_issue,
)
from accounts.services.users import care_relationship_start, user_create, user_ensure

__all__ = [
    "backup_code_use",
    "backup_codes_generate",
    "breakglass_open",
    "breakglass_review",
    "care_relationship_end",
    "care_relationship_start",
    "care_team_assign",
    "email_verification_resend",
    "email_verify",
    "invitation_accept",
    "mfa_code_verify",
    "mfa_disable",
    "mfa_reset",
    "password_reset_complete",
    "patient_profile_ensure",
    "patient_profile_update",
    "patient_register",
    "provider_profile_update",
    "proxy_grant",
    "proxy_revoke",
    "staff_invite",
    "token_family_revoke",
    "token_logout",
    "token_obtain",
    "token_refresh",
    "totp_enrol_confirm",
    "totp_enrol_start",
    "totp_verify",
    "user_create",
    "user_deactivate",
    "user_ensure",
    "user_session_close",
    "user_session_end",
    "user_session_start",
    "user_sessions_end_all",
    "user_unlock",
    "ws_ticket_consume",
    "ws_ticket_issue",
]
