"""Charts drawn on the server as SVG geometry (no chart library, no script): the template only places it."""

from dataclasses import dataclass
from datetime import timedelta

from analytics.choices import EventType, FunnelStage

FUNNEL_WIDTH, FUNNEL_ROW, FUNNEL_LABEL = 460, 44, 92
TREND_WIDTH, TREND_HEIGHT, TREND_PAD_LEFT, TREND_PAD_BOTTOM, TREND_PAD_TOP = 460, 200, 34, 24, 10
# The responses worth a line on the trend chart, with their legend labels (CSS classes colour them).
TREND_SERIES = [
    (EventType.PURL_VIEWED, "Visits"),
    (EventType.QR_SCANNED, "QR scans"),
    (EventType.CALL_STARTED, "Calls"),
    (EventType.GIFT_CARD_CLAIMED, "Rewards claimed"),
]


@dataclass
class FunnelBar:
    label: str
    recipients: int
    rate_from_mailed: float | None
    y: int
    width: int


def funnel_chart(funnel):
    """Horizontal bars, one per stage, as wide as the stage's share of the largest stage."""
    largest = max((stage["recipients"] for stage in funnel), default=0) or 1
    track = FUNNEL_WIDTH - FUNNEL_LABEL - 78
    bars = [
        FunnelBar(
            label=FunnelStage(stage["stage"]).label,
            recipients=stage["recipients"],
            rate_from_mailed=stage["rate_from_mailed"],
            y=index * FUNNEL_ROW,
            width=max(2, round(track * stage["recipients"] / largest)) if stage["recipients"] else 0,
        )
        for index, stage in enumerate(funnel)
    ]
    return {"bars": bars, "width": FUNNEL_WIDTH, "height": len(bars) * FUNNEL_ROW, "label_x": FUNNEL_LABEL,
            "track": track}


def trend_chart(daily, start, end):
    """One polyline per response type over every day of [start, end] (missing days are zero)."""
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    plot_w = TREND_WIDTH - TREND_PAD_LEFT - 8
    plot_h = TREND_HEIGHT - TREND_PAD_BOTTOM - TREND_PAD_TOP
    by_type = {
        event_type: {point["day"]: point["events"] for point in daily.get(event_type.value, [])}
        for event_type, _ in TREND_SERIES
    }
    peak = max((count for series in by_type.values() for count in series.values()), default=0)
    top = max(peak, 4)
    step = plot_w / max(len(days) - 1, 1)

    def x(index):
        return round(TREND_PAD_LEFT + index * step, 1)

    def y(count):
        return round(TREND_PAD_TOP + plot_h - plot_h * count / top, 1)

    series = []
    for position, (event_type, label) in enumerate(TREND_SERIES):
        counts = [by_type[event_type].get(day.isoformat(), 0) for day in days]
        series.append({
            "key": position + 1, "label": label, "total": sum(counts),
            "points": " ".join(f"{x(i)},{y(count)}" for i, count in enumerate(counts)),
        })
    ticks = [{"value": value, "y": y(value)} for value in sorted({0, top // 2, top})]
    labels = [{"text": days[i].strftime("%b %-d"), "x": x(i)} for i in sorted({0, len(days) // 2, len(days) - 1})]
    rows = [
        {"day": day, "counts": [by_type[event_type].get(day.isoformat(), 0) for event_type, _ in TREND_SERIES]}
        for day in days
    ]
    return {
        "width": TREND_WIDTH, "height": TREND_HEIGHT, "series": series, "ticks": ticks, "labels": labels,
        "plot_left": TREND_PAD_LEFT, "plot_right": TREND_WIDTH - 8, "baseline": y(0),
        "label_y": TREND_HEIGHT - 6, "rows": rows, "has_data": peak > 0,
    }
