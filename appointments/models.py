"""Availability, appointment types, clinic settings and appointments.

Times: `WeeklyAvailability` holds wall-clock times in the provider's time zone
(`ProviderProfile.time_zone`, else settings.TIME_ZONE); everything else is an aware datetime
stored in UTC.

Double booking: `blocked_from`/`blocked_until` is the stretch of the provider's day an
appointment takes, buffers included. On PostgreSQL the exclusion constraint
`APPOINTMENT_NO_OVERLAP` (added by migration 0001 on PostgreSQL only, see that file) makes two
overlapping non-cancelled ranges of one provider impossible; on SQLite the booking services
check under the write lock (see appointments.services).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

APPOINTMENT_NO_OVERLAP = "appointments_no_overlapping_bookings"


class Modality(models.TextChoices):
    VIDEO = "video", "Video"
    IN_PERSON = "in_person", "In person"
    PHONE = "phone", "Phone"


class AppointmentType(models.Model):
    name = models.CharField(max_length=120, unique=True)
    modality = models.CharField(max_length=16, choices=Modality.choices, default=Modality.VIDEO)
    duration_minutes = models.PositiveSmallIntegerField(validators=[MinValueValidator(5), MaxValueValidator(480)])
    buffer_before_minutes = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(240)])
    buffer_after_minutes = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(240)])
    minimum_notice_minutes = models.PositiveIntegerField(default=60)
    booking_horizon_days = models.PositiveSmallIntegerField(default=60, validators=[MinValueValidator(1)])
    cancellation_window_hours = models.PositiveSmallIntegerField(
        default=24, help_text="Patients may cancel or reschedule until this many hours before the start."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(duration_minutes__gt=0), name="appointments_type_duration"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.duration_minutes} min)"

    @property
    def duration(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.duration_minutes)

    @property
    def buffer_before(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.buffer_after_minutes)


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WeeklyAvailability(models.Model):
    """A recurring window, in wall-clock time of the provider's zone (so 09:00 stays 09:00
    across a DST change). No appointment types listed means every type."""

    provider = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="weekly_availability")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()
    appointment_types = models.ManyToManyField(AppointmentType, blank=True, related_name="+")

    class Meta:
        verbose_name_plural = "weekly availability"
        ordering = ["provider", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="appointments_weekday_range"),
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")), name="appointments_weekly_end_after_start"
            ),
        ]
        indexes = [models.Index(fields=["provider", "weekday"], name="appt_weekly_idx")]

    def __str__(self) -> str:
        return f"{self.provider} {self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M}"


class AvailabilityException(models.Model):
    class Kind(models.TextChoices):
        TIME_OFF = "time_off", "Time off"
        EXTRA_HOURS = "extra_hours", "Extra hours"

    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability_exceptions"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["provider", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="appointments_exception_end_after_start"
            ),
        ]
        indexes = [models.Index(fields=["provider", "starts_at"], name="appt_exception_idx")]

    def __str__(self) -> str:
        return f"{self.provider} {self.get_kind_display()} {self.starts_at:%Y-%m-%d %H:%M}"


def default_reminder_offsets() -> list[int]:
    return [1440, 60]


class ClinicSettings(models.Model):
    """The clinic-wide policies: one row (pk 1), edited in the admin."""

    reminder_offsets_minutes = models.JSONField(
        default=default_reminder_offsets, help_text="Minutes before the start at which reminders go out."
    )
    waitlist_offer_hold_minutes = models.PositiveIntegerField(
        default=120,
        validators=[MinValueValidator(5)],
        help_text="How long a freed slot is held for a waitlisted patient.",
    )
    require_confirmation = models.BooleanField(
        default=False,
        help_text="Patients' bookings wait as 'requested' until staff confirm them (else confirmed at once).",
    )

    class Meta:
        verbose_name = verbose_name_plural = "clinic settings"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="appointments_clinic_settings_singleton")]

    def __str__(self) -> str:
        return "Clinic settings"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        offsets = self.reminder_offsets_minutes
        if not isinstance(offsets, list) or not all(isinstance(o, int) and o > 0 for o in offsets):
            raise ValidationError(
                {"reminder_offsets_minutes": "Give a list of positive whole minutes, e.g. [1440, 60]."}
            )

    @classmethod
    def current(cls) -> ClinicSettings:
        """The clinic's settings, or the defaults (unsaved) before an admin saved any."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class Status(models.TextChoices):
    REQUESTED = "requested", "Requested"
    CONFIRMED = "confirmed", "Confirmed"
    CHECKED_IN = "checked_in", "Checked in"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


class Appointment(models.Model):
    Status = Status

    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments")
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="provider_appointments"
    )
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="appointments")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # The provider's time this appointment takes, buffers included: what must not overlap.
    blocked_from = models.DateTimeField()
    blocked_until = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    reason = models.TextField(blank=True)
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.TextField(blank=True)
    # Bumped at every reschedule: reminder keys carry it, so the new time gets its own reminders.
    schedule_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    # Statuses in which the appointment still takes the provider's time.
    ACTIVE_STATUSES = (Status.REQUESTED, Status.CONFIRMED, Status.CHECKED_IN, Status.IN_PROGRESS)

    class Meta:
        ordering = ["starts_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="appointments_end_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(blocked_from__lte=models.F("starts_at"), blocked_until__gte=models.F("ends_at")),
                name="appointments_blocked_covers_appointment",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=Status.CANCELLED) | models.Q(cancelled_at__isnull=False),
                name="appointments_cancelled_has_time",
            ),
        ]
        indexes = [
            # The slot and booking queries: a provider's non-cancelled blocks in a window.
            models.Index(fields=["provider", "blocked_from"], name="appt_provider_block_idx"),
            models.Index(fields=["patient", "starts_at"], name="appt_patient_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_type.name} with {self.provider} at {self.starts_at:%Y-%m-%d %H:%M}"


class WaitlistEntry(models.Model):
    """A patient waiting for an earlier or any time with one provider, for one type, between
    two dates (inclusive, in the provider's time zone). First come, first offered."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OFFERED = "offered", "Offer pending"
        BOOKED = "booked", "Booked"
        LEFT = "left", "Left the waitlist"
        CLOSED = "closed", "Closed (dates passed)"

    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="waitlist_entries")
    provider = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="waitlist_patients")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    earliest_date = models.DateField()
    latest_date = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    joined_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "waitlist entries"
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latest_date__gte=models.F("earliest_date")), name="appointments_waitlist_dates"
            ),
            # One open entry per patient, provider and type: joining again changes nothing.
            models.UniqueConstraint(
                fields=["patient", "provider", "appointment_type"],
                condition=models.Q(status__in=["waiting", "offered"]),
                name="appointments_waitlist_one_open_entry",
            ),
        ]
        indexes = [models.Index(fields=["provider", "status", "created_at"], name="appt_waitlist_queue_idx")]

    def __str__(self) -> str:
        return f"{self.patient} waiting for {self.provider} ({self.earliest_date}..{self.latest_date})"


class WaitlistOffer(models.Model):
    """A freed slot held for one waitlist entry until `expires_at`. While pending, the slot is
    not offered to anyone else (the slots selector and booking services treat it as taken)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    provider = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    blocked_from = models.DateTimeField()
    blocked_until = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    appointment = models.ForeignKey(Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="appointments_offer_end_after_start"
            ),
            # One live hold per entry.
            models.UniqueConstraint(
                fields=["entry"], condition=models.Q(status="pending"), name="appointments_offer_one_pending_per_entry"
            ),
        ]
        indexes = [
            models.Index(fields=["provider", "status", "blocked_from"], name="appt_offer_hold_idx"),
            models.Index(fields=["status", "expires_at"], name="appt_offer_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"Offer of {self.starts_at:%Y-%m-%d %H:%M} to {self.entry.patient} ({self.status})"


class CalendarFeed(models.Model):
    """A user's personal iCal feed, reached by a secret token in the URL. Only the SHA-256 of
    the token is stored; revoking deletes the row, resetting issues a new token."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_fetched_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"
