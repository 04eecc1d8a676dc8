"""Read side of analytics: campaign funnels and daily series, from the rollups, cached."""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.db.models import Sum

from .choices import FunnelStage
from .models import CampaignDailyFunnel, CampaignDailyStat
from .rollups import campaign_version

FUNNEL_STAGES = [FunnelStage.MAILED, FunnelStage.DELIVERED, FunnelStage.VISITED, FunnelStage.CALLED,
                 FunnelStage.REDEEMED]
ANALYTICS_CACHE_SECONDS = 300
# The longest period analytics are asked for (the API and the dashboard alike).
MAX_ANALYTICS_DAYS = 800


def _rate(part, whole):
    return round(part / whole, 4) if whole else None


def _funnel(totals):
    mailed = totals.get(FunnelStage.MAILED, 0)
    stages, previous = [], None
    for stage in FUNNEL_STAGES:
        count = totals.get(stage, 0)
        stages.append({
            "stage": stage.value,
            "recipients": count,
            "rate_from_previous": _rate(count, previous) if previous is not None else None,
            "rate_from_mailed": _rate(count, mailed),
        })
        previous = count
    return stages


def _cost_per_response(cost, responses):
    if cost is None or not responses:
        return None
    return str((Decimal(cost) / responses).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def range_refusal(start, end):
    """Why the days [start, end] are not a period to analyse, or None when they are."""
    if end < start:
        return "The end of the period is before its start."
    if (end - start).days > MAX_ANALYTICS_DAYS:
        return f"Choose a period of at most {MAX_ANALYTICS_DAYS} days."
    return None


def campaign_analytics(*, campaign, start, end):
    """Funnel (distinct recipients per stage), daily events per type and cost per response for a date range."""
    key = f"analytics:campaign:{campaign.pk}:v{campaign_version(campaign.pk)}:{start}:{end}:{campaign.cost}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    totals = dict(
        CampaignDailyFunnel.objects.filter(campaign=campaign, day__range=(start, end))
        .values("stage").annotate(total=Sum("recipients")).values_list("stage", "total")
    )
    series = defaultdict(list)
    for day, event_type, events in (
        CampaignDailyStat.objects.filter(campaign=campaign, day__range=(start, end))
        .order_by("event_type", "day").values_list("day", "event_type", "events")
    ):
        series[event_type].append({"day": day.isoformat(), "events": events})
    responses = totals.get(FunnelStage.RESPONDED, 0)
    result = {
        "campaign": campaign.pk,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "funnel": _funnel(totals),
        "responses": responses,
        "response_rate": _rate(responses, totals.get(FunnelStage.MAILED, 0)),
        "cost": str(campaign.cost) if campaign.cost is not None else None,
        "cost_per_response": _cost_per_response(campaign.cost, responses),
        "daily": dict(series),
    }
    cache.set(key, result, ANALYTICS_CACHE_SECONDS)
    return result
