"""The staff view of records: document housekeeping only.

The chart itself is not in the admin: admins never read a chart by role alone (accounts
policy), and every reading of it must pass the policy and the audit trail, which the portal's
chart pages do. What an admin needs here is operational: which stored documents failed their
integrity check (the alert email links to this page), which were not virus-scanned, and how
big they are — metadata only; titles, file names and contents stay encrypted and unshown.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from records.models import Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("public_id", "patient_id", "content_type", "size_bytes", "scan_status", "status", "recorded_at")
    list_filter = ("status", "scan_status", "content_type", "source")
    search_fields = ("public_id", "sha256")
    fields = (
        "public_id",
        "patient_id",
        "source",
        "category",
        "content_type",
        "size_bytes",
        "sha256",
        "storage_key",
        "key_id",
        "scan_status",
        "scanned_at",
        "status",
        "integrity_failed_at",
        "recorded_at",
    )
    readonly_fields = fields
    ordering = ("-recorded_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Document | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Document | None = None) -> bool:
        return False
