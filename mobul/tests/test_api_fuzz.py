"""The API fuzzed from its published OpenAPI schema (schemathesis) against a live server holding two tenants' data.

Every operation in /api/v1/schema/ gets schema-derived requests, valid and invalid, sent with tenant A's read/write
API key. No answer may be a server error, and each one (status code, content type, headers, body) must be what the
schema documents. Ids in paths are often swapped for real ones, of tenant A and of tenant B, so the requests reach
real objects and other tenants' objects, not only 404s; so are redemption tokens.

Select it with `-m fuzz`. MOBUL_FUZZ_EXAMPLES sets the fuzzed requests per operation (default 12, from a fixed
seed: every run sends the same ones); MOBUL_FUZZ_COVERAGE=1 adds schemathesis' coverage phase (boundary values and
every wrong type of every field: ~3,500 more requests).
"""

import os
from collections import Counter
from datetime import timedelta

import pytest
import schemathesis
import schemathesis.engine
from django.core.files.base import ContentFile
from django.utils import timezone
from schemathesis.engine import events

import analytics
from analytics.choices import EventSource, EventType
from calltracking.models import CallSession
from calltracking.tests.factories import new_call_id, tracking_number_for
from campaigns.choices import ImportStatus
from campaigns.models import ImportJob
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory, MailTemplateFactory
from giftcards.choices import RedemptionChannel
from giftcards.services import redeem
from giftcards.tests.factories import GiftCardPoolFactory, active_campaign, stock

FUZZ_EXAMPLES = int(os.environ.get("MOBUL_FUZZ_EXAMPLES", "12"))
FUZZ_COVERAGE = os.environ.get("MOBUL_FUZZ_COVERAGE") == "1"
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
          "response_schema_conformance"]
GENEROUS = "1000000/m"

pytestmark = pytest.mark.fuzz


def _seed(tenant, label, phone_prefix):
    """One tenant's objects, of every kind an API path can name. Returns {path segment: [ids]}."""
    client = tenant.client
    template = MailTemplateFactory(client=client, name=f"Postcard {label}")
    pool = GiftCardPoolFactory(client=client, name=f"Pool {label}")
    stock(pool, 10, prefix=f"FZ{label}")
    draft = CampaignFactory(client=client, name=f"Draft {label}", template=template, gift_card_pool=pool)
    draft_recipient = create_recipient(campaign=draft, first_name="Dana", last_name=f"Draft{label}",
                                       address1="1 Elm St", city="Springfield", state="IL", postal_code="62701")
    live, people = active_campaign(client, pool, recipients=3)
    redeem(token=people[0].redemption_token, channel=RedemptionChannel.API)
    for person in people[:2]:
        analytics.record_event(event_type=EventType.PURL_VIEWED, source=EventSource.PURL, campaign=live,
                               recipient_id=person.pk, occurred_at=timezone.now() - timedelta(hours=1))
    job = ImportJob(client=client, campaign=draft, original_filename="people.csv", status=ImportStatus.FAILED,
                    rows_total=1, rows_done=1, rows_invalid=1, error_message="1 invalid row(s); nothing was imported.")
    job.error_report.save(f"fuzz-errors-{label}.csv", ContentFile(b"row,column,reason\n2,phone,not a phone\n"),
                          save=False)
    job.save()
    number = tracking_number_for(live, phone_number=f"+1617555{phone_prefix}00")
    call = CallSession.objects.create(
        provider_call_id=new_call_id(), tracking_number=number, campaign=live, caller_phone="+16175550134",
        recipient=people[1], provider_status="completed", duration_seconds=42, recording=f"recordings/fuzz/{label}.mp3",
    )
    return {
        "clients": [client.pk], "templates": [template.pk], "gift-card-pools": [pool.pk],
        "campaigns": [draft.pk, live.pk], "recipients": [draft_recipient.pk, people[2].pk],
        "gift-cards": list(pool.cards.values_list("pk", flat=True)[:2]), "imports": [job.pk],
        "tracking-numbers": [number.pk], "call-sessions": [call.pk],
        "tokens": [person.redemption_token for person in people],
    }


@pytest.fixture
def seeded(tenant_a, tenant_b):
    a, b = _seed(tenant_a, "a", "61"), _seed(tenant_b, "b", "71")
    return {resource: a[resource] + b[resource] for resource in a}


def _real_id(ids, generated):
    """Most generated ids become one of the seeded objects' (either tenant's); the rest stay as generated."""
    if not ids or not isinstance(generated, int) or isinstance(generated, bool):
        return generated
    index = generated % (len(ids) + 1)
    return ids[index] if index < len(ids) else generated


def _api_schema(url, raw_key, seeded):
    config = schemathesis.Config.from_dict({
        "headers": {"Authorization": f"Bearer {raw_key}"},
        "workers": 1,
        "seed": 7,
        "cache": {"enabled": False},  # no state carried between runs, none left in the worktree
        "generation": {"max-examples": FUZZ_EXAMPLES, "database": "none", "mode": "all"},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": FUZZ_COVERAGE, "unexpected-methods": []},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        "checks": {"enabled": False, **{check: {"enabled": True} for check in CHECKS}},
    })
    schema = schemathesis.openapi.from_url(url, config=config)

    @schema.hook
    def map_path_parameters(context, path_parameters):
        if not path_parameters:
            return path_parameters
        resource = context.operation.path.split("/")[3]
        return {name: _real_id(seeded.get("campaigns" if name == "campaign_pk" else resource), value)
                for name, value in path_parameters.items()}

    @schema.hook
    def map_body(context, body):
        is_redemption = context.operation.path.endswith("/redeem/") and isinstance(body, dict)
        if is_redemption and isinstance(body.get("token"), str):
            tokens = seeded["tokens"]
            index = len(body["token"]) % (len(tokens) + 1)
            if index < len(tokens):
                body = {**body, "token": tokens[index]}
        return body

    return schema


def _fuzz(schema):
    """Runs every phase over every operation; returns ({operation: requests sent}, [problems])."""
    requests_by_operation, problems = Counter(), {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            requests_by_operation[event.recorder.label] += len(event.recorder.interactions)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        # One report per operation and kind of failure: the first example is enough to act on.
                        problems.setdefault((event.recorder.label, failure.title),
                                            f"{event.recorder.label}: {failure.title}\n{failure.message}\n"
                                            f"{check.failure_info.code_sample}")
        elif isinstance(event, events.NonFatalError):
            problems[(event.label, "error")] = f"{event.label}: schemathesis could not test it: {event.value!r}"
        elif isinstance(event, events.FatalError):
            problems[("run", "error")] = f"the run stopped: {event.exception!r}"
    return requests_by_operation, list(problems.values())


def test_every_answer_is_documented_and_none_is_a_server_error(transactional_db, live_server, settings, seeded,
                                                               tenant_a):
    # transactional_db before live_server: the server thread must see committed rows, and stop before the
    # test database is dropped. Generous limits, so rate limiting does not hide every other answer.
    settings.RATELIMITS = {group: GENEROUS for group in settings.RATELIMITS}
    schema = _api_schema(f"{live_server.url}/api/v1/schema/", tenant_a.raw_key, seeded)

    requests_by_operation, problems = _fuzz(schema)

    operations = {f"{operation.method.upper()} {operation.path}" for operation in
                  (result.ok() for result in schema.get_all_operations())}
    assert operations and set(requests_by_operation) == operations, operations ^ set(requests_by_operation)
    print(f"fuzzed {len(operations)} operations with {sum(requests_by_operation.values())} requests")
    assert not problems, "\n\n".join(problems)
