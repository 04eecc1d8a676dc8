"""Idempotent demo data: a platform org, an agency with two clients, a user of every role, a campaign.

Running it again changes nothing that exists (passwords included); it only fills in what is missing.
"""

import io
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

import analytics
from analytics.choices import EventSource, EventType
from analytics.partitions import ensure_partitions
from calltracking.models import CallSession
from calltracking.services import create_tracking_number
from campaigns.choices import CampaignStatus
from giftcards.choices import RedemptionChannel
from giftcards.services import redeem

from accounts.choices import OrganizationKind, Role
from accounts.models import Client, Membership, Organization, User
from campaigns.models import Campaign, MailTemplate
from campaigns.services import create_recipient
from giftcards.crypto import code_hash, encrypt_code, last4
from giftcards.models import GiftCard, GiftCardPool

ORGANIZATIONS = [
    ("mobul", "Mobul", OrganizationKind.PLATFORM),
    ("northwind", "Northwind Agency", OrganizationKind.AGENCY),
]
CLIENTS = [("acme-dental", "Acme Dental", "northwind"), ("brightside-auto", "Brightside Auto", "northwind")]
# email, name, role, organization or client slug, staff
USERS = [
    ("admin@mobul.local", "Platform Admin", Role.PLATFORM_ADMIN, "mobul", True),
    ("agency@northwind.example", "Nora Agency", Role.AGENCY_ADMIN, "northwind", False),
    ("owner@acme.example", "Alice Acme", Role.CLIENT_ADMIN, "acme-dental", False),
    ("member@acme.example", "Marco Acme", Role.CLIENT_MEMBER, "acme-dental", False),
    ("agent@acme.example", "Ada Agent", Role.CALL_CENTER_AGENT, "acme-dental", False),
    ("owner@brightside.example", "Bob Brightside", Role.CLIENT_ADMIN, "brightside-auto", False),
]
CAMPAIGNS = [("acme-dental", "Spring Smile Check-up")]
DEMO_TEMPLATE = {
    "name": "Spring postcard",
    "front_html": "<h1>{{ first_name }}, your smile deserves a check-up</h1><p>Visit {{ purl }}</p>",
    "back_html": "<p>{{ first_name }} {{ last_name }}<br>{{ address1 }}<br>{{ city }}, {{ state }} {{ postal_code }}</p>",
}
DEMO_RECIPIENTS = 25
# A campaign already in the mail, so the dashboard has responses, calls and redemptions to show.
LIVE_CAMPAIGN = "Winter Whitening"
LIVE_RECIPIENTS = 60
LIVE_DAYS = 21
DEMO_CARDS = 40
STREETS = ["Maple Ave", "Oak St", "Cedar Ln", "Elm St", "Pine Rd"]
FIRST_NAMES = ["Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo"]
LAST_NAMES = ["Lee", "Park", "Diaz", "Okafor", "Nguyen"]


def demo_logo(name):
    """A PNG of the client's initials on a tooth-white badge: something for the landing page to show."""
    image = Image.new("RGB", (240, 96), "#1f4fa8")
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((8, 8, 88, 88), radius=18, fill="#ffffff")
    draw.text((48, 48), "".join(word[0] for word in name.split()[:2]), fill="#1f4fa8", anchor="mm", font_size=40)
    draw.text((104, 48), name.split()[0], fill="#ffffff", anchor="lm", font_size=34)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Load demo organizations, clients, users of every role and a campaign (idempotent)."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo does not run when MOBUL_ENV=production: it creates users (a superuser "
                               "among them) whose password is published in the README.")
        self._seed()

    @transaction.atomic
    def _seed(self):
        password = settings.DEMO_PASSWORD
        organizations = {
            slug: Organization.objects.get_or_create(slug=slug, defaults={"name": name, "kind": kind})[0]
            for slug, name, kind in ORGANIZATIONS
        }
        clients = {
            slug: Client.objects.get_or_create(
                slug=slug, defaults={"name": name, "organization": organizations[org_slug]}
            )[0]
            for slug, name, org_slug in CLIENTS
        }
        for client in clients.values():
            if not client.logo:
                client.logo.save(f"{client.slug}.png", ContentFile(demo_logo(client.name)))
        for email, full_name, role, scope_slug, staff in USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                create = User.objects.create_superuser if staff else User.objects.create_user
                user = create(email=email, password=password, full_name=full_name)
            scope = {"organization": organizations[scope_slug]} if scope_slug in organizations else {
                "client": clients[scope_slug]
            }
            Membership.objects.get_or_create(user=user, **scope, defaults={"role": role})
        for client_slug, name in CAMPAIGNS:
            client = clients[client_slug]
            template, _ = MailTemplate.objects.get_or_create(client=client, name=DEMO_TEMPLATE["name"],
                                                             defaults=DEMO_TEMPLATE)
            pool, _ = GiftCardPool.objects.get_or_create(
                client=client, name="Spring rewards", defaults={"brand": "Amazon", "denomination": "25.00"}
            )
            GiftCard.objects.bulk_create(
                [GiftCard(pool=pool, code_encrypted=encrypt_code(code), code_hash=code_hash(code), last4=last4(code))
                 for code in (f"DEMO-{client.pk:03d}-{n:04d}" for n in range(pool.cards.count(), DEMO_CARDS))]
            )
            campaign, _ = Campaign.objects.get_or_create(
                client=client, name=name,
                defaults={"template": template, "offer": "A free whitening kit", "gift_card_pool": pool},
            )
            for n in range(campaign.recipients.count(), DEMO_RECIPIENTS):
                create_recipient(
                    campaign=campaign, first_name=FIRST_NAMES[n % 10], last_name=LAST_NAMES[n % 5],
                    address1=f"{100 + n} {STREETS[n % 5]}", city="Springfield", state="IL",
                    postal_code=f"627{n % 100:02d}", phone=f"(217) 555-{1000 + n}",
                    email=f"{FIRST_NAMES[n % 10].lower()}.{n}@example.com",
                )
            if not Campaign.objects.filter(client=client, name=LIVE_CAMPAIGN).exists():
                self._live_campaign(client, template, pool)

        self.stdout.write(self.style.SUCCESS("Demo data is loaded. Logins (password for all: DEMO_PASSWORD):"))
        for email, _, role, scope_slug, _ in USERS:
            self.stdout.write(f"  {email:<28} {role.label:<18} {scope_slug}")
        self.stdout.write(f"  password: {password}")

    def _live_campaign(self, client, template, pool):
        """An active campaign mailed three weeks ago, with responses spread over the days since."""
        today = timezone.now()
        mailed_at = today - timedelta(days=LIVE_DAYS)
        ensure_partitions(months_back=0, months_ahead=2, today=mailed_at.date())
        campaign = Campaign.objects.create(
            client=client, name=LIVE_CAMPAIGN, template=template, gift_card_pool=pool, cost="2400.00",
            offer="A $25 gift card for booking a whitening session", mail_date=mailed_at.date(),
        )
        people = [
            create_recipient(
                campaign=campaign, first_name=FIRST_NAMES[n % 10], last_name=LAST_NAMES[(n // 10) % 5],
                address1=f"{200 + n} {STREETS[n % 5]}", city="Springfield", state="IL", postal_code="62704",
                phone=f"(217) 555-{2000 + n}", email=f"{FIRST_NAMES[n % 10].lower()}.w{n}@example.com",
            )
            for n in range(LIVE_RECIPIENTS)
        ]
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.ACTIVE, status_changed_at=mailed_at)
        campaign.refresh_from_db()

        def record(event_type, recipient, day, source=EventSource.PURL):
            analytics.record_event(event_type=event_type, source=source, campaign=campaign, recipient_id=recipient.pk,
                                   occurred_at=mailed_at + timedelta(days=day, hours=9 + recipient.pk % 8))

        for n, recipient in enumerate(people):
            record(EventType.MAIL_SENT, recipient, 0, EventSource.MAIL)
            if n % 10:
                record(EventType.MAIL_DELIVERED, recipient, 3, EventSource.MAIL)
            if n % 3 == 0:
                record(EventType.PURL_VIEWED, recipient, 4 + n % (LIVE_DAYS - 4))
            if n % 7 == 0:
                record(EventType.QR_SCANNED, recipient, 5 + n % (LIVE_DAYS - 5), EventSource.QR)
        number = create_tracking_number(client=client, campaign=campaign, phone_number="+12175550188",
                                        forward_to="+12175550100", record_calls=False)
        for n, recipient in enumerate(people[:30:5]):
            started = mailed_at + timedelta(days=6 + 2 * n, hours=10)
            CallSession.objects.create(
                provider_call_id=f"CA-demo-{campaign.pk}-{n}", tracking_number=number, campaign=campaign,
                caller_phone=recipient.phone, recipient=recipient, match_method="caller_id", provider_status="completed",
                call_started_at=started, call_answered_at=started + timedelta(seconds=8),
                call_ended_at=started + timedelta(seconds=190), duration_seconds=190,
            )
            record(EventType.CALL_STARTED, recipient, 6 + 2 * n, EventSource.CALL)
        for recipient in people[:12:3]:
            redeem(token=recipient.redemption_token, channel=RedemptionChannel.WEB)
