"""Project-level periodic tasks."""

from celery import shared_task
from django.utils import timezone

from telemed.readiness import heartbeat_path


@shared_task(name="telemed.tasks.heartbeat")
def heartbeat() -> str:
    """Prove the scheduler and a worker are alive: /readyz reports the last beat's age."""
    path = heartbeat_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().isoformat()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(stamp)
    tmp.replace(path)  # atomic: a reader never sees a half-written stamp
    return stamp
