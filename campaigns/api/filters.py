import django_filters
from django.core.exceptions import ValidationError

from ..choices import CampaignStatus, RecipientStatus
from ..models import Campaign, ImportJob, Recipient
from ..normalize import normalize_email, normalize_phone
from ..tokens import normalize_short_code


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=CampaignStatus.choices)
    mail_date = django_filters.DateFromToRangeFilter()
    created_at = django_filters.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = Campaign
        fields = ["status", "client", "template", "mail_date", "created_at"]


class RecipientFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RecipientStatus.choices)
    email = django_filters.CharFilter(method="filter_email")
    phone = django_filters.CharFilter(method="filter_phone")
    token = django_filters.CharFilter(field_name="redemption_token")
    code = django_filters.CharFilter(method="filter_code")
    last_name = django_filters.CharFilter(field_name="last_name", lookup_expr="istartswith")
    external_id = django_filters.CharFilter()

    class Meta:
        model = Recipient
        fields = ["status", "email", "phone", "token", "code", "last_name", "external_id"]

    def filter_email(self, queryset, name, value):
        try:
            return queryset.filter(email=normalize_email(value))
        except ValidationError:
            return queryset.none()

    def filter_phone(self, queryset, name, value):
        try:
            return queryset.filter(phone=normalize_phone(value))
        except ValidationError:
            return queryset.none()

    def filter_code(self, queryset, name, value):
        return queryset.filter(short_code=normalize_short_code(value) or "")


class ImportJobFilter(django_filters.FilterSet):
    class Meta:
        model = ImportJob
        fields = ["status", "campaign", "kind"]
