"""Display filters of the dashboard templates."""

from django import template

from analytics.choices import EventSource, EventType
from campaigns.normalize import display_phone
from campaigns.tokens import format_short_code

register = template.Library()


@register.filter
def number(value):
    """12345 -> "12,345" (django.contrib.humanize is not installed; this is all the dashboard needs)."""
    if value in (None, ""):
        return "0"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.filter
def percent(value, digits=1):
    """0.1234 -> "12.3 %"; None -> "—"."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f} %"


@register.filter
def event_label(event_type):
    """A built-in event type's label ("purl_viewed" -> "PURL viewed"); custom types as they are."""
    return EventType(event_type).label if event_type in EventType.values else event_type


# The channels giftcards.delivery.send_card reports, joined by "+" ("email+sms"), as the timeline words them.
DELIVERY_CHANNEL_LABELS = {"email": "email", "sms": "SMS"}


@register.filter
def event_via(event):
    """How the event reached the recipient: a delivered card's channels (its payload has them; the event's
    source only says the platform sent it), else the event's source."""
    channels = event.payload.get("channel") if isinstance(event.payload, dict) else None
    if event.event_type == EventType.GIFT_CARD_DELIVERED and channels and isinstance(channels, str):
        return " and ".join(DELIVERY_CHANNEL_LABELS.get(channel, channel) for channel in channels.split("+"))
    return EventSource(event.source).label if event.source in EventSource.values else event.source


@register.filter
def short_code(code):
    """The printed code as it appears on the mail piece: ABCDE-FGHJK."""
    return format_short_code(code) if code else ""


@register.filter
def phone(value):
    """+16175550134 -> "(617) 555-0134" at home, "+44 20 7946 0958" abroad; what is not a number stays as it is."""
    return display_phone(value)


@register.filter
def duration(seconds):
    """75 -> "1:15", 3725 -> "1:02:05"; None -> "—"."""
    if seconds in (None, ""):
        return "—"
    try:
        seconds = max(int(seconds), 0)
    except (TypeError, ValueError):
        return seconds
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
