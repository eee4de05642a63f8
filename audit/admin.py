"""The staff view of the audit trail: read-only for everybody, superusers included."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from audit.errors import AuditError
from audit.models import AuditEvent
from audit.services import audit_export_csv


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "seq",
        "occurred_at",
        "action",
        "outcome",
        "actor",
        "actor_role",
        "patient",
        "target_type",
        "target_id",
        "breakglass",
        "request_id",
    ]
    list_filter = ["action", "outcome", "actor_role", "breakglass", "occurred_at"]
    # Exact matches: ids are looked up, not browsed, and "=" keeps the search on the indexes' side.
    search_fields = ["=target_id", "=request_id"]
    list_select_related = ["actor", "patient"]
    ordering = ["-seq"]
    list_per_page = 50
    # COUNT(*) over the whole trail on every page is the slow part of a large changelist.
    show_full_result_count = False
    actions = ["export_csv"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    @admin.action(description="Export selected events as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> HttpResponse | None:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        try:
            audit_export_csv(
                actor=request.user,  # type: ignore[arg-type]
                out=response,  # type: ignore[arg-type]
                event_ids=queryset.values_list("pk", flat=True),
                reason="Django admin",
            )
        except AuditError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return None
        return response
