"""The staff view of appointments (behind the OTP-verified admin site).

Configuration — appointment types, weekly hours, exceptions, clinic settings — is edited here
directly. Appointments and the waitlist are read-only: a booking made here would skip the
double-booking check under the provider's lock, the notices and the audit trail, so bookings
go through the portal's pages (the services), and the one change offered, cancelling, is an
action that calls `appointment_cancel` with the admin as the actor. The reason for a visit is
health data and is not shown here; the appointment's own page shows it to whoever the access
policy allows, and records that they saw it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponse

from accounts.models import Role, User
from appointments.models import (
    Appointment,
    AppointmentType,
    AvailabilityException,
    ClinicSettings,
    WaitlistEntry,
    WaitlistOffer,
    WeeklyAvailability,
)
from appointments.selectors import access_appointment_for_user
from appointments.services import appointment_cancel
from audit.services import audit_record
from telemed.errors import ApplicationError

ADMIN_CANCEL_REASON = "Cancelled by the clinic."


def _doctors() -> QuerySet[User]:
    return User.objects.filter(role=Role.DOCTOR).order_by("full_name", "email")


class DoctorFilter(admin.SimpleListFilter):
    """Filter by provider, offering doctors only (a plain FK filter would list every patient)."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(user.pk), user.full_name or user.email) for user in _doctors()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(provider_id=int(value))
        return queryset


class ProviderIsDoctorMixin:
    """The provider field offers active doctors only."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "provider":
            kwargs["queryset"] = _doctors().filter(is_active=True)
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        if isinstance(field, ModelChoiceField):
            field.label_from_instance = lambda user: f"{user.full_name or user.email} ({user.email})"
        return field


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "modality",
        "duration_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "minimum_notice_minutes",
        "cancellation_window_hours",
        "active",
    ]
    list_filter = ["modality", "active"]
    search_fields = ["name"]

    def has_delete_permission(self, request: HttpRequest, obj: AppointmentType | None = None) -> bool:
        # Appointments keep their type (PROTECT): retire one by unticking "active" instead.
        return False


@admin.register(WeeklyAvailability)
class WeeklyAvailabilityAdmin(ProviderIsDoctorMixin, admin.ModelAdmin):
    list_display = ["provider", "weekday", "start_time", "end_time", "types_offered"]
    list_filter = [DoctorFilter, "weekday"]
    list_select_related = ["provider"]
    filter_horizontal = ["appointment_types"]
    search_fields = ["provider__email", "provider__full_name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WeeklyAvailability]:
        return super().get_queryset(request).prefetch_related("appointment_types")

    @admin.display(description="Types")
    def types_offered(self, obj: WeeklyAvailability) -> str:
        return ", ".join(t.name for t in obj.appointment_types.all()) or "Every type"


@admin.register(AvailabilityException)
class AvailabilityExceptionAdmin(ProviderIsDoctorMixin, admin.ModelAdmin):
    list_display = ["provider", "kind", "starts_at", "ends_at", "note"]
    list_filter = [DoctorFilter, "kind", "starts_at"]
    list_select_related = ["provider"]
    date_hierarchy = "starts_at"
    search_fields = ["provider__email", "provider__full_name", "note"]


@admin.register(ClinicSettings)
class ClinicSettingsAdmin(admin.ModelAdmin):
    """One row (pk 1): it can be added once and never deleted. The form's validation runs the
    model's `clean()`, which checks the reminder offsets."""

    list_display = ["__str__", "reminder_offsets_minutes", "waitlist_offer_hold_minutes", "require_confirmation"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not ClinicSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: ClinicSettings | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ClinicSettings, form, change: bool) -> None:
        # The singleton constraint wants pk 1, whatever the database's sequence says.
        obj.pk = 1
        super().save_model(request, obj, form, change)


class StartsAtFilter(admin.DateFieldListFilter):
    title = "date"


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = ["starts_at", "ends_at", "status", "appointment_type", "provider", "patient", "booked_by"]
    list_filter = ["status", DoctorFilter, ("starts_at", StartsAtFilter), "appointment_type"]
    list_select_related = ["provider", "patient", "booked_by", "appointment_type"]
    search_fields = ["patient__email"]
    date_hierarchy = "starts_at"
    ordering = ["-starts_at", "-pk"]
    list_per_page = 50
    actions = ["cancel_appointments"]
    # No reason and no cancellation reason: health data, shown on the audited appointment page.
    fields = [
        "patient",
        "provider",
        "appointment_type",
        "starts_at",
        "ends_at",
        "blocked_from",
        "blocked_until",
        "status",
        "booked_by",
        "cancelled_by",
        "cancelled_at",
        "schedule_version",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Appointment | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Appointment | None = None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("appointments.change_appointment")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if request.method == "GET" and self.has_view_or_change_permission(request):
            # Every provider's schedule, like the front desk page: recorded the same way.
            audit_record(
                actor=request.user,
                action="appointments.schedule.view",
                target_type="appointments.admin",
                reason="Django admin appointment list",
            )
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if self.has_view_or_change_permission(request):
            # One appointment, named by an id from the URL: through the access selector, which
            # records the view (and refuses whoever the policy refuses).
            access_appointment_for_user(request.user, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Cancel the selected appointments (tells the patient)", permissions=["cancel"])
    def cancel_appointments(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        cancelled, refused = 0, []
        for appointment in queryset.select_related("patient", "provider", "appointment_type"):
            try:
                appointment_cancel(actor=request.user, appointment=appointment, reason=ADMIN_CANCEL_REASON)  # type: ignore[arg-type]
            except ApplicationError as error:
                refused.append(f"#{appointment.pk}: {error.message}")
            else:
                cancelled += 1
        if cancelled:
            self.message_user(
                request, f"Cancelled {cancelled} appointment(s); the patients are told.", messages.SUCCESS
            )
        if refused:
            self.message_user(request, "Not cancelled — " + "; ".join(refused), messages.ERROR)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ReadOnlyAdmin):
    list_display = ["patient", "provider", "appointment_type", "earliest_date", "latest_date", "status", "created_at"]
    list_filter = ["status", DoctorFilter]
    list_select_related = ["patient", "provider", "appointment_type"]
    search_fields = ["patient__email"]


@admin.register(WaitlistOffer)
class WaitlistOfferAdmin(ReadOnlyAdmin):
    list_display = ["entry", "provider", "appointment_type", "starts_at", "status", "expires_at", "responded_at"]
    list_filter = ["status", DoctorFilter]
    list_select_related = ["entry__patient", "provider", "appointment_type"]
    search_fields = ["entry__patient__email"]
