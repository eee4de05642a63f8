"""Celery tasks of the records app: thin and idempotent."""

from __future__ import annotations

from celery import shared_task

from records.services.documents import documents_sweep_orphans


@shared_task(name="records.tasks.documents_sweep_orphans")
def documents_sweep_orphans_task() -> int:
    """Beat, every DOCUMENT_SWEEP_SECONDS: delete stored document objects that no row points at
    and that are older than DOCUMENT_ORPHAN_AGE_SECONDS (uploads that died between writing
    their object and committing their row). Deleting what is already gone is a no-op, so a
    duplicated or retried run is harmless."""
    return len(documents_sweep_orphans())
