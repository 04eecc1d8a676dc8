"""One claim path and one owner of the card log: a staff reissue claims like a redemption does, every write to
gift_card_logs goes through giftcards.card_log, statuses in SQL come from the choices, and the database
refuses a status the choices do not know."""

import re
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import TestCase

from accounts.models import AuditLog
from analytics.choices import EventSource, EventType
from analytics.models import Event
from campaigns.choices import RecipientStatus
from campaigns.models import Recipient
from giftcards.choices import DeliveryStatus, GiftCardAction, GiftCardStatus
from giftcards.exceptions import CardNotReissuable
from giftcards.models import GiftCard, GiftCardLog
from giftcards.services import assign_cards, redeem, reissue_card
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

ROOT = Path(__file__).resolve().parents[2]
STATUS_WORDS = {*GiftCardStatus.values, *DeliveryStatus.values, *GiftCardAction.values, *RecipientStatus.values}


def _reissue_request(rf, user):
    request = rf.post("/admin/giftcards/giftcard/")
    request.user = user
    return request


@pytest.mark.django_db
def test_a_reissue_claims_through_the_redemption_path_without_the_cooldown(tenant_a, platform_admin, rf, settings):
    settings.REDEMPTION_COOLDOWN_SECONDS = 3600
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 2)
    campaign, (person,) = active_campaign(tenant_a.client, pool, recipients=1)
    first = redeem(token=person.redemption_token).card
    Recipient.objects.filter(pk=person.pk).update(status=RecipientStatus.RESPONDED)  # e.g. a later mail scan

    with TestCase.captureOnCommitCallbacks(execute=True):
        replacement = reissue_card(card=first, reason="damaged card", request=_reissue_request(rf, platform_admin))
    replacement.refresh_from_db()
    person.refresh_from_db()
    assert (replacement.status, replacement.recipient_id) == (GiftCardStatus.DELIVERED, person.pk)
    assert (person.gift_card_id, person.status) == (replacement.pk, RecipientStatus.REDEEMED)
    claim_log = GiftCardLog.objects.get(card=replacement, action="claimed")
    assert (claim_log.actor, claim_log.reason) == (platform_admin, f"channel: staff, replaces card {first.pk}")
    event = Event.objects.get(event_type=EventType.GIFT_CARD_CLAIMED, payload__card=replacement.pk)
    assert (event.source, event.payload["replaces"], event.recipient_id) == (EventSource.STAFF, first.pk, person.pk)
    audit = AuditLog.objects.get(object_type="giftcards.GiftCard", object_id=str(replacement.pk))
    assert audit.changes["replaces"] == first.pk and audit.actor == platform_admin

    # Asking again from the personal page gives the replacement, like any repeat.
    assert redeem(token=person.redemption_token).card.pk == replacement.pk


@pytest.mark.django_db
def test_only_a_claimed_or_delivered_card_is_reissued(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 2)
    campaign, (person,) = active_campaign(tenant_a.client, pool, recipients=1)
    assign_cards(pool=pool, campaign=campaign)
    assigned = GiftCard.objects.get(recipient=person)
    with pytest.raises(CardNotReissuable):
        reissue_card(card=assigned, reason="lost")
    assigned.refresh_from_db()
    assert assigned.status == GiftCardStatus.AVAILABLE
    assert Recipient.objects.get(pk=person.pk).status != RecipientStatus.REDEEMED


def _project_sources():
    for path in sorted(ROOT.glob("*/**/*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in (".venv", "bench") or "tests" in parts or "migrations" in parts:
            continue
        yield path


def test_only_the_card_log_module_writes_gift_card_logs():
    writers = [str(path.relative_to(ROOT)) for path in _project_sources()
               if re.search(r"INSERT INTO gift_card_logs|GiftCardLog\.objects\.(create|bulk_create)", path.read_text())]
    assert writers == ["giftcards/card_log.py"]


def test_hand_written_card_and_recipient_sql_takes_its_statuses_from_the_choices():
    # Python strings here are double-quoted, so a single-quoted status word can only be SQL.
    words = "|".join(sorted(STATUS_WORDS))
    literals = {str(path.relative_to(ROOT)): re.findall(rf"'(?:{words})'", path.read_text())
                for path in _project_sources() if path.relative_to(ROOT).parts[0] in ("giftcards", "campaigns")}
    assert {path: found for path, found in literals.items() if found} == {}


@pytest.mark.django_db
@pytest.mark.parametrize("statement", [
    "UPDATE gift_cards SET status = 'lost' WHERE id = %s",
    "UPDATE gift_cards SET delivery_status = 'maybe' WHERE id = %s",
    "INSERT INTO gift_card_logs (card_id, action, from_status, to_status, reason, created_at)"
    " VALUES (%s, 'misplaced', '', 'available', '', now())",
    "INSERT INTO gift_card_logs (card_id, action, from_status, to_status, reason, created_at)"
    " VALUES (%s, 'claimed', 'available', 'lost', '', now())",
])
def test_the_database_refuses_a_status_the_choices_do_not_know(tenant_a, statement):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 1)
    card = GiftCard.objects.get(pool=pool)
    with pytest.raises(IntegrityError, match="_valid"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [card.pk])
    assert GiftCard.objects.get(pk=card.pk).delivery_status == DeliveryStatus.NOT_SENT
