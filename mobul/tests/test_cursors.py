"""Every cursor-paginated list answers a cursor it did not issue with a 400 in the error shape, never a 500."""

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics.choices import EventSource, EventType
from analytics.services import record_event
from calltracking.models import CallSession
from calltracking.tests.factories import new_call_id, tracking_number_for
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

pytestmark = pytest.mark.django_db

INVALID_CURSOR = {"code": "invalid_cursor", "field": "cursor"}
# Positions that no list orders by: text for numbers and times, numbers past bigint, times no calendar has.
BAD_POSITIONS = ["abc", "", "1.5", "-", "9" * 30, "-" + "9" * 30, "1e9", "\x00", "2026-13-01 00:00:00+00:00",
                 "2026-01-01 00:00:00", "99999-01-01 00:00:00+00:00", "NaN"]


@pytest.fixture
def lists(tenant_a):
    """{name: (path, params)} of every cursor-paginated list, each holding three rows of tenant A's."""
    now = timezone.now()
    pool = GiftCardPoolFactory(client=tenant_a.client)
    stock(pool, 3)
    campaign, people = active_campaign(tenant_a.client, pool, recipients=3)
    number = tracking_number_for(campaign)
    for minutes, person in enumerate(people):
        record_event(event_type=EventType.PURL_VIEWED, source=EventSource.PURL, campaign=campaign,
                     recipient_id=person.pk, occurred_at=now - timedelta(minutes=minutes))
        CallSession.objects.create(provider_call_id=new_call_id(), tracking_number=number, campaign=campaign,
                                   caller_phone="+16175550134", call_started_at=now - timedelta(minutes=minutes))
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(minutes=1)).isoformat()}
    return {
        "gift-cards": ("/api/v1/gift-cards/", {}),
        "recipients": (f"/api/v1/campaigns/{campaign.pk}/recipients/", {}),
        "events": ("/api/v1/events/", window),
        "call-sessions": ("/api/v1/call-sessions/", {}),
    }


def _encoded(querystring):
    return base64.b64encode(querystring.encode()).decode()


def _get(key_client, lists, name, cursor, **params):
    path, fixed = lists[name]
    return key_client.get(path, {**fixed, **params, **({} if cursor is None else {"cursor": cursor})})


def _assert_invalid_cursor(response):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert {"code": error["code"], "field": error["field"]} == INVALID_CURSOR
    assert error["message"]


@pytest.mark.parametrize("name", ["gift-cards", "recipients", "events", "call-sessions"])
def test_a_crafted_cursor_is_a_400_on_every_cursor_list(key_client, lists, name, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "api": "1000/m"}
    crafted = ["not base64!", "%%%", "YWJj=", _encoded("o=-1"), _encoded("o=x"), _encoded("r=yes"),
               _encoded("r=" + "1" * 5000), _encoded("p=1&r=2.5"),
               *(_encoded(urlencode({"p": position})) for position in BAD_POSITIONS),
               base64.b64encode("p=é".encode()).decode()]
    for cursor in crafted:
        _assert_invalid_cursor(_get(key_client, lists, name, cursor))


@pytest.mark.parametrize("name", ["gift-cards", "recipients", "events", "call-sessions"])
def test_the_cursors_a_list_issues_still_page_through_it(key_client, lists, name):
    first = _get(key_client, lists, name, None, page_size=2).json()
    assert len(first["results"]) == 2
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    second = _get(key_client, lists, name, cursor, page_size=2).json()
    assert len(second["results"]) == 1
    back = parse_qs(urlsplit(second["previous"]).query)["cursor"][0]
    assert _get(key_client, lists, name, back, page_size=2).json()["results"] == first["results"]


@pytest.mark.parametrize("name", ["gift-cards", "recipients", "events", "call-sessions"])
def test_a_cursor_list_keeps_its_own_order_whatever_ordering_asks(key_client, lists, name):
    expected = _get(key_client, lists, name, None).json()["results"]
    for ordering in ("id", "-created_at", "\u00ea\x08", "pk"):
        response = key_client.get(lists[name][0], {**lists[name][1], "ordering": ordering})
        assert response.status_code == 200, (ordering, response.content)
        assert response.json()["results"] == expected


def _cursor_texts():
    """What a caller may put in ?cursor=: any text, base64 of any bytes, base64 of any o/r/p query string."""
    anything = st.one_of(st.text(), st.integers().map(str), st.sampled_from(BAD_POSITIONS),
                         st.datetimes().map(lambda moment: f"{moment} +00:00".replace(" +", "+")))
    fields = st.dictionaries(st.sampled_from(["o", "r", "p"]), anything, max_size=3)
    return st.one_of(
        st.text(max_size=40),
        st.binary(max_size=40).map(lambda raw: base64.b64encode(raw).decode()),
        fields.map(lambda values: _encoded(urlencode(values))),
    )


@pytest.mark.parametrize("name", ["gift-cards", "recipients", "events", "call-sessions"])
def test_no_cursor_is_a_server_error(key_client, lists, name, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "api": "100000/m"}

    @hypothesis_settings(max_examples=150, deadline=None, derandomize=True,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(cursor=_cursor_texts())
    def check(cursor):
        response = _get(key_client, lists, name, cursor)
        assert response.status_code in (200, 400), (cursor, response.content)
        if response.status_code == 400:
            _assert_invalid_cursor(response)

    check()
