"""Sending a claimed card to its recipient: email through Django's email backend, SMS through a
pluggable backend (console by default, Twilio when configured)."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

SMS_BACKENDS = {
    "console": "giftcards.delivery.ConsoleSmsBackend",
    "twilio": "giftcards.delivery.TwilioSmsBackend",
}


class DeliveryError(Exception):
    """Sending failed in a way a later retry may fix."""


class ConsoleSmsBackend:
    """Development: nothing is sent. Only the fact is logged, never the text: it holds the code."""

    def send(self, *, to, body):
        logger.info("SMS (console backend, not sent) to %s, %d characters", to, len(body))


class TwilioSmsBackend:
    def send(self, *, to, body):
        from twilio.base.exceptions import TwilioException
        from twilio.rest import Client

        try:
            Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN).messages.create(
                to=to, from_=settings.TWILIO_FROM_NUMBER, body=body
            )
        except TwilioException as error:
            raise DeliveryError(f"Twilio refused the SMS: {error}") from error


def sms_backend():
    return import_string(SMS_BACKENDS.get(settings.SMS_BACKEND, settings.SMS_BACKEND))()


def message_for(card, code):
    pool = card.pool
    return (
        f"Your {pool.brand} gift card ({pool.denomination} {pool.currency}) from {pool.client.name}: {code}"
    )


@dataclass
class Sent:
    channels: str  # "email+sms", "email", "sms", or "" when the recipient has neither
    error: str = ""  # a channel that failed while another got through


def send_card(*, card, code):
    """Sends by email and SMS, whichever the recipient has. Raises DeliveryError only when nothing got
    through: once one channel did, the recipient has the code, and a retry would send it to them twice."""
    recipient = card.recipient
    body = message_for(card, code)
    senders = []
    if recipient.email:
        senders.append(("email", lambda: _email(card, recipient.email, body)))
    if recipient.phone:
        senders.append(("sms", lambda: sms_backend().send(to=recipient.phone, body=body)))
    channels, errors = [], []
    for channel, send in senders:
        try:
            send()
        except DeliveryError as error:
            errors.append(str(error))
        else:
            channels.append(channel)
    if errors and not channels:
        raise DeliveryError("; ".join(errors))
    return Sent(channels="+".join(channels), error="; ".join(errors))


def _email(card, address, body):
    try:
        send_mail(f"Your {card.pool.brand} gift card", body, None, [address])
    except OSError as error:
        raise DeliveryError(f"Email could not be sent: {error}") from error
