import pytest
from cryptography.fernet import Fernet
from django.db import DatabaseError, connection, transaction

from giftcards import crypto
from giftcards.choices import GiftCardStatus
from giftcards.models import GiftCard, GiftCardLog
from giftcards.services import redeem
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock


def test_codes_round_trip_and_keys_can_rotate(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.GIFT_CARD_ENCRYPTION_KEYS = [old]
    token = crypto.encrypt_code("CODE-1234")
    assert "CODE-1234" not in token
    settings.GIFT_CARD_ENCRYPTION_KEYS = [new, old]
    assert crypto.decrypt_code(token) == "CODE-1234"
    rotated = crypto.rotate_token(token)
    settings.GIFT_CARD_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt_code(rotated) == "CODE-1234"


def test_the_lookup_hash_is_keyed(settings):
    first = crypto.code_hash("CODE-1234")
    settings.GIFT_CARD_HASH_KEY = "another key"
    assert crypto.code_hash("CODE-1234") != first
    assert crypto.code_hash(" CODE-1234 ") == crypto.code_hash("CODE-1234")


@pytest.mark.django_db
def test_staff_void_and_reissue_with_a_reason(staff_client, tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 2)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=1)
    first = redeem(token=people[0].redemption_token).card
    url = "/admin/giftcards/giftcard/"
    asked = staff_client.post(url, {"action": "reissue_cards", "_selected_action": [first.pk]})
    assert "reason" in asked.content.decode()
    staff_client.post(url, {"action": "reissue_cards", "_selected_action": [first.pk], "reason": "damaged card"})
    first.refresh_from_db()
    people[0].refresh_from_db()
    assert first.status == GiftCardStatus.VOID
    assert people[0].gift_card_id != first.pk and people[0].gift_card.status == GiftCardStatus.CLAIMED
    assert GiftCardLog.objects.get(card=first, action="voided").reason == "damaged card"


@pytest.mark.django_db
def test_card_logs_are_append_only(tenant_a):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 1)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=1)
    redeem(token=people[0].redemption_token)
    log = GiftCardLog.objects.first()
    with pytest.raises(TypeError):
        log.save()
    with pytest.raises(TypeError):
        GiftCardLog.objects.all().delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE gift_card_logs SET reason = 'edited'")


@pytest.mark.django_db
def test_rotation_command_re_encrypts_every_code(tenant_a, settings):
    from django.core.management import call_command

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.GIFT_CARD_ENCRYPTION_KEYS = [old]
    codes = stock(GiftCardPoolFactory(client=tenant_a.client), 3)
    settings.GIFT_CARD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_gift_card_keys", stdout=None)
    settings.GIFT_CARD_ENCRYPTION_KEYS = [new]
    assert sorted(crypto.decrypt_code(c.code_encrypted) for c in GiftCard.objects.all()) == sorted(codes)
