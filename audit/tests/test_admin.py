import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.mfa.testing import otp_force_login
from audit.models import AuditEvent

CHANGELIST = reverse("admin:audit_auditevent_changelist")


@pytest.fixture
def superuser(admin):
    admin.is_superuser = True
    admin.save()
    return admin


@pytest.fixture
def events(record_events, doctor, nurse, patient):
    return record_events(20, actor=doctor, patient=patient) + record_events(20, actor=nurse, patient=patient)


def test_the_changelist_lists_events_in_a_bounded_number_of_queries(
    client, superuser, events, django_assert_max_num_queries
):
    otp_force_login(client, superuser)

    # 40 events with an actor and a patient each: an N+1 would need far more than this. (The
    # admin's sidebar costs one query of its own: whether the clinic settings row exists yet.)
    with django_assert_max_num_queries(13):
        response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert response.content.count(b"records.chart.view") >= 40


def test_the_changelist_filters_and_searches(client, superuser, events):
    otp_force_login(client, superuser)

    by_role = client.get(CHANGELIST, {"actor_role__exact": "nurse"})
    by_target = client.get(CHANGELIST, {"q": "13"})

    assert len(by_role.context["cl"].result_list) == 20
    assert {e.target_id for e in by_target.context["cl"].result_list} == {"13"}


def test_even_a_superuser_cannot_add_change_or_delete_events(client, superuser, events):
    otp_force_login(client, superuser)
    event = events[0]
    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])

    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.post(change_url, {"reason": "edited"}).status_code == 403
    assert client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    offered = dict(client.get(CHANGELIST).context["action_form"].fields["action"].choices)
    assert "delete_selected" not in offered
    assert "export_csv" in offered
    client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert AuditEvent.objects.get(pk=event.pk).reason == ""
    assert AuditEvent.objects.count() == 40
    # Viewing one event still works, without a save button.
    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content


def test_a_staff_member_with_view_permission_exports_the_selection_and_it_is_audited(client, admin, events):
    admin.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    otp_force_login(client, admin)
    chosen = [events[2].pk, events[30].pk]

    response = client.post(CHANGELIST, {"action": "export_csv", "_selected_action": chosen})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [int(r["seq"]) for r in rows] == [events[2].seq, events[30].seq]
    export = AuditEvent.objects.order_by("-seq").first()
    assert (export.action, export.actor, export.actor_role) == ("audit.export", admin, "admin")
    assert "selected events" in export.reason


def test_staff_without_the_permission_cannot_open_the_trail(client, admin, events):
    otp_force_login(client, admin)

    assert client.get(CHANGELIST).status_code == 403
