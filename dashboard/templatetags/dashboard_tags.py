"""Display filters of the dashboard templates."""

from django import template

from analytics.choices import EventSource, EventType
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


@register.filter
def event_source(source):
    return EventSource(source).label if source in EventSource.values else source


@register.filter
def short_code(code):
    """The printed code as it appears on the mail piece: ABCDE-FGHJK."""
    return format_short_code(code) if code else ""
