"""The audit trail: append-only events, hash-chained, and the one-row head that serializes appends."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Role

# prev_hash of the first event: there is nothing before it.
GENESIS_HASH = "0" * 64


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    DENIED = "denied", "Denied"
    FAILURE = "failure", "Failure"


class ActorRole(models.TextChoices):
    PATIENT = Role.PATIENT.value, Role.PATIENT.label
    DOCTOR = Role.DOCTOR.value, Role.DOCTOR.label
    NURSE = Role.NURSE.value, Role.NURSE.label
    ADMIN = Role.ADMIN.value, Role.ADMIN.label
    # No user: a scheduled task, a management command, the system itself.
    SYSTEM = "system", "System"
    # A request that was not logged in (a denied attempt on a protected object).
    ANONYMOUS = "anonymous", "Anonymous"


class AuditEvent(models.Model):
    """One access to (or attempt on) health data. Rows are never updated or deleted.

    `hash` is HMAC-SHA256(settings.AUDIT_HMAC_KEY, canonical(every other field but `id`)),
    and the canonical form includes `prev_hash`, so each row seals its predecessor.
    `id` is left out because the database assigns it after the HMAC is computed;
    `seq` is the row's place in the chain.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    # PROTECT: deleting a user would have to rewrite (null) audited rows, which the
    # append-only trigger refuses anyway; users are deactivated, never deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    actor_role = models.CharField(max_length=16, choices=ActorRole.choices)
    action = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    breakglass = models.BooleanField(default=False)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            # "Who looked at this patient, when" and "what did this user do, when" (export, admin).
            models.Index(fields=["patient", "occurred_at"], name="audit_event_patient_time"),
            models.Index(fields=["actor", "occurred_at"], name="audit_event_actor_time"),
            # Export by period and the admin's date filter.
            models.Index(fields=["occurred_at"], name="audit_event_time"),
            # Admin search: follow one request or one object through the trail.
            models.Index(fields=["request_id"], name="audit_event_request"),
            models.Index(fields=["target_type", "target_id"], name="audit_event_target"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_event_seq_positive"),
            models.CheckConstraint(
                condition=models.Q(breakglass=False) | ~models.Q(reason=""), name="audit_event_breakglass_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} ({self.outcome})"


class AuditChainHead(models.Model):
    """The single row that says where the chain ends; appenders lock it to take turns."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_head_single_row")]

    def __str__(self) -> str:
        return f"audit chain head at #{self.last_seq}"
