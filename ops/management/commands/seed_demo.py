"""Idempotent demo data: a platform org, an agency with two clients, a user of every role, a campaign.

Running it again changes nothing that exists (passwords included); it only fills in what is missing.
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

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
DEMO_CARDS = 40
STREETS = ["Maple Ave", "Oak St", "Cedar Ln", "Elm St", "Pine Rd"]
FIRST_NAMES = ["Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo"]
LAST_NAMES = ["Lee", "Park", "Diaz", "Okafor", "Nguyen"]


class Command(BaseCommand):
    help = "Load demo organizations, clients, users of every role and a campaign (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
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

        self.stdout.write(self.style.SUCCESS("Demo data is loaded. Logins (password for all: DEMO_PASSWORD):"))
        for email, _, role, scope_slug, _ in USERS:
            self.stdout.write(f"  {email:<28} {role.label:<18} {scope_slug}")
        self.stdout.write(f"  password: {password}")
