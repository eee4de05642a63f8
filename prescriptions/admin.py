"""The staff view of prescriptions: prescribers' signing keys (public parts only).

Prescriptions themselves are not in the admin: admins never read health data by role alone
(accounts policy). What a clinic admin needs here is to answer "is this the key of Dr X?" from
a pharmacist or a patient: the fingerprint, the owner, when it was made and retired. The
private key is never shown, and keys are never added, edited or deleted here (rotation is the
doctor's own, on their keys page).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from prescriptions.models import PrescriberKey


@admin.register(PrescriberKey)
class PrescriberKeyAdmin(admin.ModelAdmin):
    list_display = ("fingerprint", "prescriber", "created_at", "retired_at")
    list_filter = ("retired_at",)
    search_fields = ("fingerprint", "prescriber__email", "prescriber__full_name")
    fields = ("fingerprint", "public_key", "prescriber", "created_at", "retired_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PrescriberKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PrescriberKey | None = None) -> bool:
        return False
