import threading

from django.db import connections, transaction

from audit.models import AuditEvent
from audit.services import audit_record
from audit.verify import audit_chain_verify

THREADS = 4
EVENTS_PER_THREAD = 10


def test_concurrent_appends_keep_one_unbroken_chain(committed_db, doctor, patient):
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            start.wait(timeout=10)
            for n in range(EVENTS_PER_THREAD):
                with transaction.atomic(durable=True):
                    audit_record(actor=doctor, action="records.chart.view", patient=patient, target_id=f"{worker}-{n}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    total = THREADS * EVENTS_PER_THREAD
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, total + 1))
    assert AuditEvent.objects.values("target_id").distinct().count() == total
    report = audit_chain_verify(batch_size=9)
    assert report.ok, report.first_break
    assert report.verified == total
