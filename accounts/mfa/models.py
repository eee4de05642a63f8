"""Backup codes (stored hashed, single use) and the signed-in sessions a user can see and end."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class BackupCode(models.Model):
    """One single-use recovery code. Only a salted, keyed hash is stored (services.mfa.backup_code_hash)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backup_codes")
    code_hash = models.CharField(max_length=256)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at"])]

    def __str__(self) -> str:
        return f"backup code of {self.user_id} ({'used' if self.used_at else 'unused'})"


class UserSession(models.Model):
    """A browser session, as the sessions page shows it.

    The session's own row (django.contrib.sessions) holds the data; this row says who, from
    where and whether it was ended. The session key is kept only as a SHA-256 hash: the session
    carries this row's id, and the SessionSecurityMiddleware refuses a session whose row is ended,
    so ending works whatever session engine is configured.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="user_sessions")
    session_key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "ended_at", "-last_seen_at"])]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None
