import django_filters

from ..choices import CallStatus, MatchMethod
from ..models import CallSession
from ..selectors import e164_or_blank


class CallSessionFilter(django_filters.FilterSet):
    call_started_at = django_filters.IsoDateTimeFromToRangeFilter(
        help_text="`call_started_at_after` / `call_started_at_before`, ISO 8601.")
    caller = django_filters.CharFilter(method="filter_caller", help_text="The caller's number, in any common format.")
    matched = django_filters.BooleanFilter(method="filter_matched", help_text="Whether a recipient is matched.")
    status = django_filters.MultipleChoiceFilter(field_name="provider_status", choices=CallStatus.choices)
    match_method = django_filters.MultipleChoiceFilter(choices=MatchMethod.choices)

    class Meta:
        model = CallSession
        fields = ["campaign", "tracking_number", "call_started_at", "caller", "matched", "status", "match_method"]

    def filter_caller(self, queryset, name, value):
        phone = e164_or_blank(value)
        return queryset.filter(caller_phone=phone) if phone else queryset.none()

    def filter_matched(self, queryset, name, value):
        return queryset.filter(recipient__isnull=not value)
