from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "accounts.mfa"
    label = "accounts_mfa"
    verbose_name = "Sign-in security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receiver that audits failed logins (see accounts.mfa.receivers).
        from accounts.mfa import receivers  # noqa: F401
