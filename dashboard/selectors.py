"""Reads only the dashboard makes. Every function takes the client (or an object already scoped to one)."""

from datetime import date

from django.db.models import Count, Q, Sum
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.choices import AuditAction
from accounts.models import AuditLog
from analytics.choices import FunnelStage
from analytics.models import CampaignDailyFunnel, Event
from analytics.selectors import campaign_analytics
from calltracking.models import CallSession
from campaigns.choices import LIVE_STATUSES, ImportStatus
from campaigns.models import Campaign, ImportJob, Recipient
from campaigns.normalize import normalize_email, normalize_phone
from campaigns.tokens import looks_like_token, normalize_short_code
from giftcards.choices import CLAIMED_STATUSES
from giftcards.models import GiftCard, GiftCardPool, PoolAlert
from giftcards.selectors import is_low, with_stock

# Funnels "so far" start here: before the platform existed there is nothing to count.
ALL_TIME_START = date(2020, 1, 1)
SEARCH_LIMIT = 50
TIMELINE_LIMIT = 200
HISTORY_LIMIT = 20
RECIPIENT_PAGE_SIZE = 50
# The orders a campaign's recipient list offers, each ending with the primary key so that it is total: a page
# starts strictly after the previous page's last row (keyset), with no OFFSET and no COUNT(*).
RECIPIENT_SORTS = {
    "name": ("last_name", "first_name", "pk"),
    "created": ("created_at", "pk"),
    "status": ("status", "pk"),
}
OVERVIEW_CAMPAIGNS = 12
RECENT_IMPORT_PROBLEM_DAYS = 14


def funnel_totals(campaign):
    """{stage: recipients} for the campaign since it started."""
    analytics = campaign_analytics(campaign=campaign, start=ALL_TIME_START, end=timezone.localdate())
    return {stage["stage"]: stage["recipients"] for stage in analytics["funnel"]}, analytics["responses"]


def overview(client):
    campaigns = list(
        Campaign.objects.filter(client=client, status__in=LIVE_STATUSES)
        .annotate(calls=Count("call_sessions"))
        .order_by("-status_changed_at", "-pk")[:OVERVIEW_CAMPAIGNS]
    )
    for campaign in campaigns:
        campaign.funnel, campaign.responses = funnel_totals(campaign)
    low_pools = [pool for pool in with_stock(GiftCardPool.objects.filter(client=client)) if is_low(pool)]
    since = timezone.now() - timezone.timedelta(days=RECENT_IMPORT_PROBLEM_DAYS)
    import_problems = list(
        ImportJob.objects.filter(client=client, created_at__gte=since)
        .filter(Q(status=ImportStatus.FAILED) | Q(rows_invalid__gt=0) | Q(rows_duplicate__gt=0))
        .select_related("campaign", "pool")[:10]
    )
    counts = Campaign.objects.filter(client=client).aggregate(
        total=Count("pk"), live=Count("pk", filter=Q(status__in=LIVE_STATUSES)),
    )
    return {
        "campaigns": campaigns,
        "low_pools": low_pools,
        "open_alerts": PoolAlert.objects.filter(pool__client=client, resolved_at__isnull=True).count(),
        "import_problems": import_problems,
        "counts": counts,
    }


def status_history(campaign):
    """The campaign's latest moves along its lifecycle, newest first: who made each, why, from which proof."""
    return list(AuditLog.objects.filter(object_type=Campaign._meta.label, object_id=str(campaign.pk),
                                        action=AuditAction.TRANSITION)
                .select_related("actor", "api_key").order_by("-created_at", "-pk")[:HISTORY_LIMIT])


def mailed_and_responses(campaigns):
    """{campaign id: (mailed, responses)} from the daily funnel rollups: one small grouped query for a whole list,
    where counting recipients would read every one of them."""
    totals = {}
    rows = (CampaignDailyFunnel.objects.filter(campaign__in=campaigns, stage__in=[FunnelStage.MAILED,
                                                                                   FunnelStage.RESPONDED])
            .values_list("campaign_id", "stage").annotate(total=Sum("recipients")))
    for campaign_id, stage, total in rows:
        totals.setdefault(campaign_id, {})[stage] = total
    return {campaign.pk: (totals.get(campaign.pk, {}).get(FunnelStage.MAILED, 0),
                          totals.get(campaign.pk, {}).get(FunnelStage.RESPONDED, 0)) for campaign in campaigns}


def search_recipients(client, query, campaign=None):
    """Recipients of the client's campaigns matching a name, phone, email, printed code or PURL token."""
    recipients = Recipient.objects.filter(campaign__client=client).select_related("campaign")
    if campaign is not None:
        recipients = recipients.filter(campaign=campaign)
    query = " ".join(query.split())
    if not query:
        return list(recipients.order_by("-pk")[:SEARCH_LIMIT])
    matches = Q()
    words = query.split(" ")
    if len(words) >= 2:
        matches |= Q(first_name__iexact=words[0], last_name__istartswith=" ".join(words[1:]))
    matches |= Q(last_name__istartswith=query) | Q(first_name__istartswith=query) | Q(company__istartswith=query)
    if "@" in query:
        try:
            email = normalize_email(query)
        except ValidationError:
            pass
        else:
            # Stored as typed (domain lowercased); people search in any case. Both stay on the email index.
            matches |= Q(email__in={email, email.lower()})
    if sum(char.isdigit() for char in query) >= 7:
        try:
            matches |= Q(phone=normalize_phone(query))
        except ValidationError:
            pass
    code = normalize_short_code(query)
    if code:
        matches |= Q(short_code=code)
    if looks_like_token(query):
        matches |= Q(redemption_token=query)
    return list(recipients.filter(matches).order_by("last_name", "first_name", "pk")[:SEARCH_LIMIT])


def _after(columns, anchor, descending):
    """Rows strictly after `anchor` in the order of `columns` (all ascending, or all descending)."""
    later = "lt" if descending else "gt"
    condition = Q()
    for position, column in enumerate(columns):
        ties = {name: anchor[name] for name in columns[:position]}
        condition |= Q(**ties, **{f"{column}__{later}": anchor[column]})
    return condition


def recipient_page(campaign, *, status="", sort="name", descending=False, after=None):
    """One page of the campaign's recipients and the id the next page starts after (None on the last page).
    An `after` that is not a recipient of this list starts from the top."""
    recipients = Recipient.objects.filter(campaign=campaign)
    if status:
        recipients = recipients.filter(status=status)
    columns = RECIPIENT_SORTS[sort]
    anchor = recipients.filter(pk=after).values(*columns).first() if after else None
    if anchor:
        recipients = recipients.filter(_after(columns, anchor, descending))
    rows = list(recipients.order_by(*[f"-{c}" if descending else c for c in columns])[:RECIPIENT_PAGE_SIZE + 1])
    has_more = len(rows) > RECIPIENT_PAGE_SIZE
    rows = rows[:RECIPIENT_PAGE_SIZE]
    return rows, rows[-1].pk if has_more else None


def recipient_timeline(recipient):
    """The recipient's events, newest first (idx_events_recipient_date)."""
    return list(
        Event.objects.filter(recipient_id=recipient.pk, campaign_id=recipient.campaign_id)
        .order_by("-created_at")[:TIMELINE_LIMIT]
    )


def recent_redemptions(campaign, limit=10):
    return list(
        GiftCard.objects.filter(recipient__campaign=campaign, status__in=CLAIMED_STATUSES)
        .select_related("recipient", "pool").order_by("-claimed_at", "-pk")[:limit]
    )


def recent_calls(campaign, limit=10):
    return list(CallSession.objects.filter(campaign=campaign).select_related("recipient")[:limit])


def stock_levels(pool):
    """Adds what the stock bar needs to a pool annotated by `with_stock`."""
    pool.low = is_low(pool)
    pool.available_percent = round(pool.available * 100 / pool.total) if pool.total else 0
    pool.low_mark = pool.total * pool.low_stock_threshold_percent / 100
    return pool


def pool_with_stock(pool_id):
    pool = with_stock(GiftCardPool.objects.filter(pk=pool_id)).first() if pool_id else None
    return stock_levels(pool) if pool else None
