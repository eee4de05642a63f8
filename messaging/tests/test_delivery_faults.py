"""A reminder reaches its provider exactly once whatever happens to tasks, workers and the broker.

Real Celery workers (with embedded beat: the sweeper every second) run as subprocesses on the
test database and the run's broker — SQLite + kombu's filesystem transport on the embedded
defaults, PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set. What reached the
providers is counted from outside: the file email backend's messages (each with the Message-ID
of its idempotency key) and the file SMS gateway's outbox. The claim lease is 3 s here.

The one case not covered, because it cannot be made exactly-once without the provider's help:
a worker that dies after the provider accepted a message but before its transaction committed
(docs/notifications.md, "The one gap").
"""

import json
import time

import pytest

from accounts.tests.factories import PatientProfileFactory
from messaging.channels import message_id_for
from messaging.models import Channel, Notification, NotificationStatus
from messaging.tests.conftest import schedule_reminder
from messaging.tests.gateways import gate_dir
from messaging.tests.processes import DJANGO, LEASE_SECONDS

pytestmark = pytest.mark.django_db(transaction=True)

GATED_SMS = {"SMS_BACKEND": "messaging.tests.gateways.GatedSmsGateway"}

# Enqueues the delivery of one claim three times: a retried, re-delivered or duplicated task.
DUPLICATE_TASKS = (
    DJANGO
    + """
import json
from messaging.services import notifications_claim_due
from messaging.tasks import notification_deliver_task
[claim] = notifications_claim_due()
for _ in range(3):
    notification_deliver_task.delay(claim.id, claim.claim_token)
print(json.dumps(list(claim)))
"""
)

# A sweeper that starts when the file named by argv[1] appears and claims in small batches
# until nothing is left, enqueuing each claim; prints the ids it claimed.
RACING_SWEEPER = (
    DJANGO
    + """
import json, sys, time
from pathlib import Path
from messaging.services import notifications_claim_due
from messaging.tasks import notification_deliver_task
go = Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
claimed = []
while claims := notifications_claim_due(limit=2):
    for claim in claims:
        notification_deliver_task.delay(claim.id, claim.claim_token)
    claimed += [claim.id for claim in claims]
print(json.dumps(claimed))
"""
)


def _reminders(patient, count: int) -> dict[int, str]:
    """`count` email reminders due now: {id: idempotency key}."""
    keys = [f"appointment:{n}:v1:reminder:1440:email" for n in range(1, count + 1)]
    return {schedule_reminder(patient, key=key).pk: key for key in keys}


def _message_ids(outside) -> list[str]:
    return sorted(message["Message-ID"] for message in outside.emails())


def _settle() -> None:
    """Give a wrongly re-claimed row its chance to go out again: a lease and two sweeps."""
    time.sleep(LEASE_SECONDS + 2)


def _sms_patient(patient):
    PatientProfileFactory(user=patient, phone="+15550100")
    patient.notify_sms = True
    patient.save(update_fields=["notify_sms"])
    return patient


def test_a_delivery_task_run_three_times_by_two_workers_at_once_sends_one_email(outside, patient):
    [key] = _reminders(patient, 1).values()
    outside.python("claim", DUPLICATE_TASKS).wait(timeout=60)
    assert outside.queued() == 3, outside.log("claim")

    # Two workers without beat (no sweeper): only the three copies of the task run.
    outside.worker("one", beat=False, wait=False)
    outside.worker("two", beat=False, wait=False)
    outside.wait_ready("one")
    outside.wait_ready("two")

    def results() -> list[str]:
        lines = [line for name in ("one", "two") for line in outside.log(name).splitlines()]
        return sorted(
            line.rsplit(": ", 1)[1] for line in lines if "notification_deliver[" in line and "succeeded" in line
        )

    outside.wait_for(lambda: len(results()) == 3, "the three copies of the task to run")
    assert results() == ["False", "False", "True"]
    assert _message_ids(outside) == [message_id_for(key)]
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == (NotificationStatus.SENT, 1)


def test_two_sweepers_running_at_once_claim_each_reminder_once_and_it_is_sent_once(outside, patient):
    reminders = _reminders(patient, 24)
    go = outside.root / "go"
    sweepers = [outside.python(name, RACING_SWEEPER, str(go)) for name in ("sweeper-a", "sweeper-b")]
    for name in ("sweeper-a", "sweeper-b"):
        outside.wait_for(lambda name=name: "ready" in outside.log(name), f"{name} to start")
    go.touch()
    for sweeper in sweepers:
        assert sweeper.wait(timeout=60) == 0
    claimed_a, claimed_b = (set(json.loads(outside.log(name).splitlines()[-1])) for name in ("sweeper-a", "sweeper-b"))

    assert claimed_a.isdisjoint(claimed_b)
    assert claimed_a | claimed_b == set(reminders)

    outside.worker("worker", beat=False)
    outside.wait_for(lambda: len(outside.emails()) >= len(reminders), "every reminder to be sent")
    _settle()
    assert _message_ids(outside) == sorted(message_id_for(key) for key in reminders.values())
    assert set(Notification.objects.values_list("status", "attempts")) == {(NotificationStatus.SENT, 1)}


def test_a_worker_killed_inside_the_provider_call_sends_nothing_and_after_the_lease_one_sms_goes(outside, patient):
    _sms_patient(patient)
    key = "appointment:1:v1:reminder:60:sms"
    reminder = schedule_reminder(patient, key=key, channel=Channel.SMS, attachments=())
    gate = gate_dir(outside.var_dir)
    first = outside.worker("first", **GATED_SMS)
    outside.wait_for(lambda: len(list(gate.glob("entered-*"))) == 1, "the delivery to reach the SMS provider")

    outside.kill(first)

    assert outside.sms() == []
    reminder.refresh_from_db()
    # The attempt died with its transaction: still claimed, under the dead worker's token.
    assert (reminder.status, reminder.attempts) == (NotificationStatus.CLAIMED, 0)
    claimed_at = reminder.claimed_at

    (gate / "open").touch()
    outside.worker("second", **GATED_SMS)
    outside.wait_for(lambda: outside.sms(), "the SMS after the lease", timeout=LEASE_SECONDS + 20)
    outside.wait_for(
        lambda: Notification.objects.get().status == NotificationStatus.SENT, "the reminder to be marked sent"
    )
    _settle()

    [sms] = outside.sms()
    assert (sms["to"], sms["idempotency_key"]) == ("+15550100", key)
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (NotificationStatus.SENT, 1)
    # Not before the lease ran out: the sweeper, not a stray copy of the task, recovered it.
    assert (reminder.sent_at - claimed_at).total_seconds() >= LEASE_SECONDS
    assert len(list(gate.glob("entered-*"))) == 2


def test_a_pool_process_killed_mid_task_has_its_task_run_again_by_the_broker_and_one_sms_goes(outside, patient):
    _sms_patient(patient)
    key = "appointment:1:v1:reminder:60:sms"
    reminder = schedule_reminder(patient, key=key, channel=Channel.SMS, attachments=())
    gate = gate_dir(outside.var_dir)
    outside.sweep_once()
    # No beat: no sweeper to recover the row after the lease, only the broker's re-delivery.
    worker = outside.worker("worker", pool="prefork", beat=False, **GATED_SMS)
    outside.wait_for(lambda: len(list(gate.glob("entered-*"))) == 1, "the delivery to reach the SMS provider")
    [entered] = gate.glob("entered-*")
    child = int(entered.name.split("-")[1])
    assert child != worker.pid

    # Only the pool process dies: the worker sees it lost (reject_on_worker_lost) and requeues.
    outside.kill_pid(child)
    (gate / "open").touch()

    outside.wait_for(lambda: outside.sms(), "the re-run task's SMS")
    outside.wait_for(
        lambda: Notification.objects.get().status == NotificationStatus.SENT, "the reminder to be marked sent"
    )
    _settle()

    assert [sms["idempotency_key"] for sms in outside.sms()] == [key]
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (NotificationStatus.SENT, 1)
    assert "WorkerLostError" in outside.log("worker")


def test_tasks_lost_with_the_flushed_broker_are_claimed_again_after_the_lease_and_each_sent_once(outside, patient):
    reminders = _reminders(patient, 3)
    claims = outside.sweep_once()
    assert sorted(notification_id for notification_id, _ in claims) == sorted(reminders)
    assert outside.queued() == 3

    outside.flush_broker()

    assert outside.queued() == 0
    claimed_at = {n.pk: n.claimed_at for n in Notification.objects.all()}
    outside.worker("worker")
    outside.wait_for(lambda: len(outside.emails()) >= 3, "the reminders after the lease", timeout=LEASE_SECONDS + 20)
    outside.wait_for(
        lambda: set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT},
        "the reminders to be marked sent",
    )
    _settle()

    assert _message_ids(outside) == sorted(message_id_for(key) for key in reminders.values())
    for notification in Notification.objects.all():
        assert notification.attempts == 1
        assert (notification.sent_at - claimed_at[notification.pk]).total_seconds() >= LEASE_SECONDS
