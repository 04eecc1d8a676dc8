"""A tenant's worth of dashboard data: every kind of object a dashboard URL can point at."""

from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

import analytics
import webhooks
from analytics.choices import EventSource, EventType
from calltracking.models import CallSession
from calltracking.tests.factories import new_call_id, tracking_number_for
from campaigns.choices import CampaignStatus, ImportStatus
from campaigns.imports import sniff
from campaigns.models import Campaign, ImportJob, StagedImport
from campaigns.services import create_recipient
from campaigns.tests.factories import CampaignFactory, MailTemplateFactory, csv_bytes, person
from giftcards.crypto import encrypt_code
from giftcards.tests.factories import GiftCardPoolFactory, stock
from mailpieces.models import PrintRun
from mailpieces.tests.factories import ready_proof
from webhooks.choices import EventType as WebhookEventType
from webhooks.models import WebhookEndpoint, WebhookMessage


@dataclass
class World:
    tenant: object
    template: object
    pool: object
    campaign: object
    recipients: list
    import_job: object
    call: object
    membership: object
    print_run: object
    proof: object
    staged_import: object
    webhook_endpoint: object
    webhook_message: object

    def objects_by_url_kwarg(self):
        """What each dashboard URL kwarg names, for this tenant."""
        return {
            "campaign_id": self.campaign, "recipient_id": self.recipients[0], "pool_id": self.pool,
            "import_id": self.import_job, "call_id": self.call, "key_id": self.tenant.api_key,
            "membership_id": self.membership, "print_run_id": self.print_run,
            "proof_id": self.proof, "piece_id": self.proof.pieces.get(),
            "staged_import_id": self.staged_import,
            "endpoint_id": self.webhook_endpoint, "message_id": self.webhook_message,
        }


def build_world(tenant, label, *, phone_prefix):
    client = tenant.client
    template = MailTemplateFactory(client=client, name=f"Template {label}")
    pool = GiftCardPoolFactory(client=client, name=f"Pool {label}")
    stock(pool, 20, prefix=f"W{label}")
    campaign = CampaignFactory(client=client, name=f"Campaign {label}", template=template, gift_card_pool=pool)
    recipients = [
        create_recipient(campaign=campaign, first_name=f"Rita{label}", last_name=f"Stone{label.upper()}{n}", address1=f"{n} Elm St",
                         city="Springfield", state="IL", postal_code="62701", phone=f"(217) 555-{phone_prefix}{n:02d}",
                         email=f"rita{n}.{label}@example.com")
        for n in range(3)
    ]
    upload = SimpleUploadedFile("people.csv", csv_bytes([person(n) for n in range(2)]), content_type="text/csv")
    job = ImportJob(client=client, campaign=campaign, file=upload, original_filename="people.csv",
                    size_bytes=upload.size, status=ImportStatus.FAILED, rows_total=2, rows_done=2, rows_invalid=1,
                    error_message="1 invalid row(s); nothing was imported.")
    job.error_report.save(f"errors-{label}.csv", ContentFile(b"row,column,reason\n3,phone,not a phone number\n"),
                          save=False)
    job.save()
    number = tracking_number_for(campaign, phone_number=f"+1617555{phone_prefix}00", forward_to="+16175550199")
    call = CallSession.objects.create(
        provider_call_id=new_call_id(), tracking_number=number, campaign=campaign,
        caller_phone=recipients[0].phone, recipient=recipients[0], provider_status="completed",
        duration_seconds=42, recording=f"recordings/test/{label}.mp3",
    )
    endpoint = WebhookEndpoint.objects.create(client=client, url=f"https://hooks-{label}.example.com/mobul",
                                              event_types=[WebhookEventType.PROOF_READY], secret_last4=f"{label}wh"[:4],
                                              secret_encrypted=encrypt_code("whsec_dGVzdA=="))
    (message_id,) = webhooks.publish(client_id=client.pk, event_type=WebhookEventType.PROOF_READY, data={})
    return World(tenant=tenant, template=template, pool=pool, campaign=campaign, recipients=recipients,
                 import_job=job, call=call, membership=tenant.member.memberships.get(client=client),
                 print_run=PrintRun.objects.create(campaign=campaign, chunk_pieces=1000),
                 proof=ready_proof(campaign), staged_import=staged_import(campaign, tenant.admin),
                 webhook_endpoint=endpoint, webhook_message=WebhookMessage.objects.get(pk=message_id))


def staged_import(campaign, user, content=None, name="staged.csv"):
    """An uploaded file waiting on the column-mapping page (step 2 of a dashboard import)."""
    upload = SimpleUploadedFile(name, content or csv_bytes([person(n) for n in range(2)]), content_type="text/csv")
    header, samples = sniff(upload)
    staged = StagedImport(client=campaign.client, campaign=campaign, created_by=user, original_filename=name,
                          size_bytes=upload.size, header=header, samples=samples)
    staged.file.save(name, upload, save=False)
    staged.save()
    return staged


def make_active(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.ACTIVE, status_changed_at=timezone.now())
    campaign.refresh_from_db()
    return campaign


def respond(campaign, recipient, *event_types):
    for event_type in event_types:
        analytics.record_event(event_type=event_type, source=EventSource.PURL, campaign=campaign,
                               recipient_id=recipient.pk)


MAILED_AND_VISITED = (EventType.MAIL_SENT, EventType.PURL_VIEWED)
