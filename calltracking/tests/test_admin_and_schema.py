"""Staff pages, and the seed's indexes on call_sessions."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog
from calltracking.models import CallSession, TrackingNumber

from .factories import VOICE, new_call_id, twilio_post, voice_params

pytestmark = pytest.mark.django_db


def test_staff_add_a_tracking_number_in_any_format(staff_client, campaign_and_caller):
    campaign, _ = campaign_and_caller
    response = staff_client.post(reverse("admin:calltracking_trackingnumber_add"), {
        "client": campaign.client_id, "campaign": campaign.pk, "phone_number": "+1 (617) 555-0100",
        "forward_to": "617 555 0199", "record_calls": "on", "consent_message": "Calls are recorded.",
        "status": "active",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    number = TrackingNumber.objects.get()
    assert (number.phone_number, number.forward_to, number.client) == ("+16175550100", "+16175550199",
                                                                       campaign.client)
    assert AuditLog.objects.filter(action="create", object_id=str(number.pk)).exists()


def test_staff_release_numbers_and_find_them_by_phone(staff_client, number):
    changelist = reverse("admin:calltracking_trackingnumber_changelist")
    assert staff_client.get(changelist, {"q": "(617) 555-0100"}).context["cl"].result_count == 1
    staff_client.post(changelist, {"action": "release", "_selected_action": [number.pk]})
    number.refresh_from_db()
    assert number.status == "released"


def test_staff_find_calls_by_caller_and_open_them(staff_client, number):
    call_id = new_call_id()
    twilio_post(Client(), VOICE, voice_params(call_id))
    session = CallSession.objects.get()
    CallSession.objects.filter(pk=session.pk).update(recording="recordings/x.mp3", recording_status="stored")

    changelist = reverse("admin:calltracking_callsession_changelist")
    assert staff_client.get(changelist, {"q": "617.555.0134"}).context["cl"].result_count == 1
    assert staff_client.get(changelist, {"q": call_id}).context["cl"].result_count == 1
    page = staff_client.get(reverse("admin:calltracking_callsession_change", args=[session.pk]))
    assert page.status_code == 200
    assert f"/app/calls/{session.pk}/recording/" in page.content.decode()
    assert staff_client.get(reverse("admin:calltracking_callsession_add")).status_code == 403


def test_staff_retry_a_failed_download(staff_client, number, django_capture_on_commit_callbacks):
    twilio_post(Client(), VOICE, voice_params(new_call_id()))
    session = CallSession.objects.get()
    CallSession.objects.filter(pk=session.pk).update(
        recording_status="failed", recording_sid="RE1", recording_source_url="https://api.twilio.com/x/RE1")

    with django_capture_on_commit_callbacks() as scheduled:
        staff_client.post(reverse("admin:calltracking_callsession_changelist"),
                          {"action": "retry_recording_download", "_selected_action": [session.pk]})

    assert len(scheduled) == 1
    assert CallSession.objects.get().recording_status == "pending"


def test_the_seed_indexes_exist_under_their_seed_names():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'call_sessions'")
        definitions = dict(cursor.fetchall())
    assert definitions["idx_call_sessions_campaign_date"].endswith("(campaign_id, call_started_at)")
    assert definitions["idx_call_sessions_caller"].endswith("(caller_phone, campaign_id)")


def test_every_foreign_key_leads_an_index():
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.conrelid::regclass::text, a.attname
            FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND c.conrelid::regclass::text IN ('call_sessions', 'tracking_numbers')
              AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
        """)
        assert cursor.fetchall() == []
