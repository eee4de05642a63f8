import pytest
from django.conf import settings
from django.http import HttpResponse

from audit.context import audit_context, current_audit_context
from audit.middleware import AuditContextMiddleware
from audit.models import AuditEvent
from audit.services import audit_record
from telemed.middleware import RequestIdMiddleware


def test_it_sits_right_after_authentication_and_after_the_request_id():
    chain = settings.MIDDLEWARE
    position = chain.index("audit.middleware.AuditContextMiddleware")

    assert chain[position - 1] == "django.contrib.auth.middleware.AuthenticationMiddleware"
    assert chain.index("telemed.middleware.RequestIdMiddleware") < position


def test_events_written_during_a_request_carry_its_address_agent_and_id(rf, doctor, patient):
    def view(request):
        audit_record(actor=doctor, action="records.chart.view", patient=patient)
        return HttpResponse("ok")

    handler = RequestIdMiddleware(AuditContextMiddleware(view))
    request = rf.get(
        "/chart/", REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Firefox/130.0", HTTP_X_REQUEST_ID="req-1234-abcd"
    )

    response = handler(request)

    event = AuditEvent.objects.get()
    assert (event.ip, event.user_agent, event.request_id) == ("203.0.113.7", "Firefox/130.0", "req-1234-abcd")
    assert response["X-Request-ID"] == "req-1234-abcd"
    # Nothing leaks into the next unit of work on this thread.
    assert current_audit_context().ip is None


def test_behind_a_trusted_proxy_it_records_the_clients_address(rf, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    seen = []

    def view(request):
        seen.append(current_audit_context())
        return HttpResponse("ok")

    AuditContextMiddleware(view)(
        rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.44", HTTP_USER_AGENT="x" * 900)
    )

    assert seen[0].ip == "192.0.2.44"
    assert len(seen[0].user_agent) == 512


@pytest.mark.asyncio
async def test_it_binds_the_context_for_async_views_too(async_rf):
    seen = []

    async def view(request):
        seen.append(current_audit_context())
        return HttpResponse("ok")

    handler = RequestIdMiddleware(AuditContextMiddleware(view))
    request = async_rf.get("/", headers={"user-agent": "Safari/17"})
    request.META["REMOTE_ADDR"] = "2001:db8::0:1"  # ASGI takes it from the scope's client
    await handler(request)

    assert seen[0].ip == "2001:db8::1"
    assert seen[0].user_agent == "Safari/17"
    assert len(seen[0].request_id) == 32


def test_outside_a_request_an_explicit_context_can_be_bound(db):
    with audit_context(ip="192.0.2.9", request_id="task-00000001"):
        event = audit_record(actor=None, action="appointments.reminder.send")

    assert (event.ip, event.request_id, event.user_agent) == ("192.0.2.9", "task-00000001", "")
