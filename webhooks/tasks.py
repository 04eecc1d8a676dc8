from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.urls import reverse

from accounts.choices import Role
from accounts.models import User

from .models import WebhookEndpoint

# Hard stop of one delivery (connect + read timeouts are far shorter): a hung attempt frees its worker, and its
# lease (WEBHOOKS_LEASE_SECONDS, longer than this) lets the sweeper send it again.
DELIVERY_TIME_LIMIT_SECONDS = 45
DISPATCH_SCHEDULED_KEY = "webhooks:dispatch-scheduled"


@shared_task(acks_late=True)
def dispatch_messages():
    """After publishes commit: a delivery task for each new message. The key is released before the outbox is read:
    a message committed after that schedules another run, and one committed before it is in what this run reads."""
    from .services import dispatch  # services queues this task

    cache.delete(DISPATCH_SCHEDULED_KEY)
    return dispatch()


@shared_task(acks_late=True, time_limit=DELIVERY_TIME_LIMIT_SECONDS)
def deliver_message(message_id):
    """One attempt at one message: one message per task, so a slow endpoint only ever holds its own."""
    from .services import deliver  # services queues this task

    deliver(message_id=message_id)


@shared_task
def sweep_messages():
    """Every minute: deliveries whose worker died, and due messages whose task never came, are queued again."""
    from .services import sweep

    return sweep()


@shared_task(acks_late=True)
def notify_endpoint_disabled(endpoint_id):
    """Emails the client's admins that an endpoint was disabled after repeated failures."""
    endpoint = WebhookEndpoint.objects.select_related("client").filter(pk=endpoint_id).first()
    if endpoint is None:
        return
    admins = list(User.objects.filter(is_active=True, memberships__client=endpoint.client_id,
                                      memberships__role=Role.CLIENT_ADMIN).values_list("email", flat=True))
    if not admins:
        return
    page = settings.PUBLIC_BASE_URL + reverse("dashboard:webhooks")
    body = (f"Mobul stopped sending webhooks to {endpoint.url} ({endpoint.description or 'no description'}) for "
            f"{endpoint.client.name}: its last {endpoint.consecutive_failures} delivery attempts failed, the first "
            f"on {endpoint.failing_since:%Y-%m-%d %H:%M} UTC.\n\nNew events are not sent to it while it is disabled. "
            f"Fix the receiver, then enable the endpoint again and replay the failed messages at {page}")
    send_mail(f"Webhook endpoint disabled: {endpoint.url}", body, settings.DEFAULT_FROM_EMAIL, admins)
