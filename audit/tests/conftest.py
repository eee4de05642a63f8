from collections.abc import Callable, Iterator

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.services import audit_record
from audit.testing import audit_trail_purge


@pytest.fixture
def committed_db(transactional_db) -> Iterator[None]:
    """A database whose commits are real; the audit rows they leave are purged before the flush."""
    yield
    audit_trail_purge()


@pytest.fixture
def record_events(db) -> Callable[..., list[AuditEvent]]:
    def record(count: int, *, actor=None, **kwargs) -> list[AuditEvent]:
        events = []
        for i in range(count):
            # Each in its own transaction, as the callers' services would.
            with transaction.atomic():
                events.append(audit_record(actor=actor, action="records.chart.view", target_id=i, **kwargs))
        return events

    return record
