"""Re-encrypts every stored gift-card code, and every webhook signing secret, with the newest key of
GIFT_CARD_ENCRYPTION_KEYS.

Rotation: put the new key first in GIFT_CARD_ENCRYPTION_KEYS (keep the old one after it), deploy, run this,
then drop the old key. Batches are short transactions, so it can run while cards are being claimed.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from giftcards.crypto import rotate_token
from giftcards.models import GiftCard
from webhooks.models import WebhookEndpoint

BATCH = 1000


class Command(BaseCommand):
    help = "Re-encrypt all gift-card codes with the newest encryption key."

    def handle(self, *args, **options):
        last_id, done = 0, 0
        while True:
            with transaction.atomic():
                cards = list(
                    GiftCard.objects.select_for_update().filter(pk__gt=last_id).order_by("pk")
                    .only("pk", "code_encrypted")[:BATCH]
                )
                if not cards:
                    break
                for card in cards:
                    card.code_encrypted = rotate_token(card.code_encrypted)
                GiftCard.objects.bulk_update(cards, ["code_encrypted"])
            last_id, done = cards[-1].pk, done + len(cards)
            self.stdout.write(f"\r{done} codes re-encrypted", ending="")
        self.stdout.write(self.style.SUCCESS(f"\nDone: {done} codes use the newest key."))
        with transaction.atomic():  # a client has a handful of endpoints: one short transaction
            endpoints = list(WebhookEndpoint.objects.select_for_update().order_by("pk"))
            for endpoint in endpoints:
                endpoint.secret_encrypted = rotate_token(endpoint.secret_encrypted)
                if endpoint.previous_secret_encrypted:
                    endpoint.previous_secret_encrypted = rotate_token(endpoint.previous_secret_encrypted)
            WebhookEndpoint.objects.bulk_update(endpoints, ["secret_encrypted", "previous_secret_encrypted"])
        self.stdout.write(self.style.SUCCESS(f"{len(endpoints)} webhook endpoints' secrets use the newest key."))
