from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import BreakGlassAccess, CareRelationship, PatientProfile, ProviderProfile, ProxyGrant, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "is_active", "is_staff"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "role")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Notifications", {"fields": ("notify_email", "notify_sms", "notify_in_app")}),
        ("Dates", {"fields": ("last_login", "date_joined", "email_verified_at")}),
    )
    # Set only by following the verification link (accounts.services.registration).
    readonly_fields = ["email_verified_at"]
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "role", "password1", "password2")}),
    )
    filter_horizontal = ("groups",)


@admin.register(CareRelationship)
class CareRelationshipAdmin(admin.ModelAdmin):
    list_display = ["provider", "patient", "kind", "started_at", "ended_at"]
    list_filter = ["kind"]
    raw_id_fields = ["patient", "provider"]


# Profiles, proxy grants and break-glass accesses are read-only here: every change goes through
# the services (audited), on the portal's own pages.
class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PatientProfile)
class PatientProfileAdmin(ReadOnlyAdmin):
    list_display = ["mrn", "legal_name", "user", "preferred_language"]
    search_fields = ["mrn", "legal_name", "user__email"]
    raw_id_fields = ["user"]


@admin.register(ProviderProfile)
class ProviderProfileAdmin(ReadOnlyAdmin):
    list_display = ["user", "specialty", "licence_jurisdiction", "accepting_new_patients"]
    search_fields = ["user__email", "user__full_name", "specialty"]
    raw_id_fields = ["user"]


@admin.register(ProxyGrant)
class ProxyGrantAdmin(ReadOnlyAdmin):
    list_display = ["proxy", "patient", "relationship", "starts_at", "expires_at", "revoked_at"]
    search_fields = ["proxy__email", "patient__email"]
    raw_id_fields = ["patient", "proxy", "granted_by", "revoked_by"]


@admin.register(BreakGlassAccess)
class BreakGlassAccessAdmin(ReadOnlyAdmin):
    list_display = ["clinician", "patient", "opened_at", "expires_at", "reviewed_at", "reviewed_by"]
    list_filter = [("reviewed_at", admin.EmptyFieldListFilter)]
    search_fields = ["clinician__email", "patient__email"]
    raw_id_fields = ["clinician", "patient", "reviewed_by"]
