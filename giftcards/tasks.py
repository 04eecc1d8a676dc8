from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail

from accounts.choices import Role
from accounts.models import User
from campaigns.jobs import run_claimed

from .crypto import decrypt_code
from .delivery import DeliveryError, send_card
from .models import PoolAlert

DELIVERY_MAX_RETRIES = 5
# A send that takes longer is killed (a hung provider call); the card then waits for staff as unconfirmed.
DELIVERY_TIME_LIMIT_SECONDS = 120
DELIVERIES_SCHEDULED_KEY = "giftcards:deliveries:dispatch-scheduled"


def pool_check_key(pool_id):
    return f"giftcards:pool-check:{pool_id}"


@shared_task(acks_late=True)
def dispatch_deliveries():
    """Hands every claimed card waiting in the outbox to a delivery task. Queued when claims commit (one run
    at a time, see services.schedule_deliveries), and every minute for a wake-up lost with the broker.

    The scheduling key is released before the outbox is read: a claim committed after that schedules
    another run, and one committed before it is in what this run reads."""
    from .services import dispatch_pending_deliveries  # services queues this task

    cache.delete(DELIVERIES_SCHEDULED_KEY)
    return dispatch_pending_deliveries()


@shared_task(bind=True, acks_late=True, max_retries=DELIVERY_MAX_RETRIES, time_limit=DELIVERY_TIME_LIMIT_SECONDS)
def deliver_gift_card(self, card_id):
    """Sends a claimed card to its recipient; retried with exponential backoff.

    A card is never sent twice: the send is recorded (committed) before the provider is called, and a task
    that finds a card sent, being sent or unconfirmed sends nothing. A send cut short by a dead worker is
    flagged for staff by the sweeper, never resent on its own."""
    # services queues this task, so it is imported here rather than at the top.
    from .services import begin_delivery, record_delivery, record_delivery_failure

    card = begin_delivery(card_id=card_id)
    if card is None:
        return
    try:
        sent = send_card(card=card, code=decrypt_code(card.code_encrypted))
    except DeliveryError as error:
        retry_in = record_delivery_failure(card_id=card_id, started_at=card.delivery_started_at, error=str(error))
        if retry_in is not None:
            raise self.retry(exc=error, countdown=retry_in)
        return
    record_delivery(card_id=card_id, started_at=card.delivery_started_at, channels=sent.channels, error=sent.error)


@shared_task
def sweep_deliveries():
    """Every minute: the outbox's way out after a lost message or a killed worker (services.sweep_deliveries),
    then a dispatch of what went back to the outbox."""
    from .services import dispatch_pending_deliveries, sweep_deliveries as sweep

    result = sweep()
    if result.requeued:
        dispatch_pending_deliveries()
    return {"requeued": result.requeued, "unconfirmed": result.unconfirmed}


@shared_task
def expire_gift_cards():
    """Daily: unclaimed cards past their expiry date leave the stock."""
    from .services import expire_cards

    return expire_cards()


@shared_task(acks_late=True)
def notify_low_stock(alert_id):
    """Emails the client's admins, and staff, that a pool is running low."""
    alert = PoolAlert.objects.select_related("pool__client").get(pk=alert_id)
    pool = alert.pool
    admins = User.objects.filter(
        is_active=True, memberships__client=pool.client, memberships__role=Role.CLIENT_ADMIN
    ).values_list("email", flat=True)
    body = (f"Only {alert.available} of {alert.total} cards are left in {pool} "
            f"(alert threshold {pool.low_stock_threshold_percent} %). Upload more codes to keep rewards flowing.")
    if admins:
        send_mail(f"Gift cards running low: {pool.name}", body, settings.DEFAULT_FROM_EMAIL, list(admins))
    # Staff watch every pool; a separate message, so clients never see staff addresses.
    staff = User.objects.filter(is_active=True, is_staff=True).exclude(email="").values_list("email", flat=True)
    if staff:
        send_mail(f"[Mobul alert] Gift-card pool low: {pool.client} / {pool.name}", body,
                  settings.DEFAULT_FROM_EMAIL, list(staff))


@shared_task(acks_late=True)
def process_card_import(import_job_id):
    """Runs one gift-card code import. A message delivered twice does nothing more: only a pending job is claimed."""
    # inventory queues this task, so it is imported here rather than at the top.
    from .inventory import run_card_import

    run_claimed(import_job_id, run_card_import)


@shared_task(acks_late=True)
def check_pool_level_later(pool_id):
    """After cards were claimed or assigned: alert on low stock outside the request that moved them.

    Claims schedule it with a countdown (see services.schedule_pool_check); the key is released here so
    the next burst schedules another check."""
    from .services import check_pool_level

    cache.delete(pool_check_key(pool_id))
    check_pool_level(pool_id=pool_id)
