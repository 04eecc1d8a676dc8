"""Staff reveal a card's code in the admin: shown on the page of the response only, audited in both logs."""

import pytest
from django.contrib.messages import get_messages

from accounts.models import AuditLog
from giftcards.models import GiftCard, GiftCardLog
from giftcards.tests.factories import GiftCardPoolFactory, stock

pytestmark = pytest.mark.django_db

CARDS = "/admin/giftcards/giftcard/"


def test_a_revealed_code_is_on_an_uncached_page_never_in_a_message_or_cookie(staff_client, tenant_a, platform_admin):
    pool = GiftCardPoolFactory(client=tenant_a.client)
    codes = stock(pool, 2)
    cards = list(GiftCard.objects.order_by("pk"))

    response = staff_client.post(CARDS, {"action": "reveal_code", "_selected_action": [card.pk for card in cards]})

    assert response.status_code == 200
    page = response.content.decode()
    assert all(code in page for code in codes)
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert not list(get_messages(response.wsgi_request))
    assert not any(code in morsel.value for morsel in response.cookies.values() for code in codes)
    for card in cards:
        assert GiftCardLog.objects.get(card=card, action="revealed").actor == platform_admin
    audits = AuditLog.objects.filter(action="reveal")
    assert audits.count() == 2 and all(code not in str(audit.changes) for audit in audits for code in codes)
    # The next page the browser loads holds no code either.
    listing = staff_client.get(CARDS).content.decode()
    assert not any(code in listing for code in codes)
    assert codes[0] not in staff_client.get(f"{CARDS}{cards[0].pk}/change/").content.decode()
