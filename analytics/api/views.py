from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.access import clients_for, principal_of, sole_client
from accounts.choices import Capability
from accounts.permissions import IsTenantActor
from campaigns.models import Campaign
from mobul.api import CursorPagination
from mobul.exceptions import DomainError
from mobul.replicas import ReplicaReadsMixin

from ..ingest import MAX_BATCH, ingest_events
from ..models import Event
from ..selectors import MAX_ANALYTICS_DAYS, campaign_analytics, range_refusal

MAX_RANGE = timedelta(days=93)


class RangeRequired(DomainError):
    code = "invalid_range"


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField(source="created_at")
    campaign = serializers.IntegerField(source="campaign_id")
    recipient = serializers.IntegerField(source="recipient_id", allow_null=True)
    event_type = serializers.CharField()
    source = serializers.CharField()
    payload = serializers.JSONField()


class EventInSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(help_text="The id of one of your own campaigns: another client's is an "
                                                  "`unknown_campaign` item error, like an id that does not exist.")
    event_type = serializers.CharField(help_text='A built-in type or "custom.<name>".')
    occurred_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    recipient = serializers.IntegerField(required=False, help_text="The id of a recipient of that campaign: any "
                                                                   "other is an `unknown_recipient` item error.")
    source = serializers.CharField(required=False, default="api")
    payload = serializers.JSONField(required=False)
    idempotency_key = serializers.CharField(required=False, max_length=100)


class EventCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")


def _moment(value):
    try:
        return parse_datetime(value or "")
    except ValueError:
        return None


def _time_range(params):
    since, until = _moment(params.get("from")), _moment(params.get("to"))
    if since is None or until is None or since.tzinfo is None or until.tzinfo is None:
        raise RangeRequired("Give the time range as ?from=...&to=... (ISO 8601 with a timezone).", field="from")
    if until <= since:
        raise RangeRequired("`to` must be after `from`.", field="to")
    if until - since > MAX_RANGE:
        raise RangeRequired(f"The range can span at most {MAX_RANGE.days} days.", field="to")
    return since, until


def _day(params, name, default):
    value = params.get(name)
    if not value:
        return default
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        raise RangeRequired(f"`{name}` is not a date: write it YYYY-MM-DD.", field=name)
    return day


class EventsView(ReplicaReadsMixin, GenericAPIView):
    """Events: list a time range (newest first), or send a batch of up to 1,000."""

    replica_actions = frozenset({"get"})
    permission_classes = [IsTenantActor]
    # Requests filter by hand, within the time range; and without OrderingFilter, `?ordering=` is not offered (it
    # was a 500: DRF's OrderingFilter cannot list the fields of a model with a composite key).
    filter_backends = []
    pagination_class = EventCursorPagination
    serializer_class = EventSerializer
    queryset = Event.objects.none()  # for the schema generator; requests build their own, range-bound

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=True,
                             description="Start (inclusive): an ISO 8601 date and time with its UTC offset, e.g. "
                                         "`2026-12-01T00:00:00Z` or `2026-12-01T09:30:00+01:00`."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, required=True,
                             description=f"End (exclusive), written like `from`: after it, at most "
                                         f"{MAX_RANGE.days} days later."),
            OpenApiParameter("campaign", int, description="The id of one of your own campaigns: another client's "
                                                          "matches no event."),
            OpenApiParameter("event_type", str),
            OpenApiParameter("recipient", int, description="The id of one of your own recipients: another "
                                                           "client's matches no event."),
        ],
        responses=EventSerializer(many=True),
    )
    def get(self, request):
        since, until = _time_range(request.query_params)
        # The time range is a literal bound on the partition key, so only its months' partitions are read.
        events = Event.objects.filter(
            created_at__gte=since, created_at__lt=until,
            campaign__client__in=clients_for(principal_of(request), Capability.VIEW),
        )
        for name, lookup in (("campaign", "campaign_id"), ("event_type", "event_type"), ("recipient", "recipient_id")):
            value = request.query_params.get(name)
            if value:
                # isdigit() alone lets "²" through, which int() then refuses.
                if name != "event_type" and not (value.isascii() and value.isdigit()):
                    raise RangeRequired(f"{name} must be a number.", field=name)
                events = events.filter(**{lookup: value})
        page = self.paginate_queryset(events)
        return self.get_paginated_response(EventSerializer(page, many=True).data)

    @extend_schema(
        request=inline_serializer("EventBatch", {"events": serializers.ListField(
            child=EventInSerializer(), min_length=1, max_length=MAX_BATCH,
            help_text=f"1 to {MAX_BATCH:,} events; each is stored or reported in `errors` by its index.")}),
        responses=inline_serializer("EventBatchResult", {
            "accepted": serializers.IntegerField(), "duplicates": serializers.IntegerField(),
            "errors": serializers.ListField(child=serializers.DictField()),
        }),
    )
    def post(self, request):
        client = sole_client(principal_of(request), Capability.MANAGE_CAMPAIGNS)
        if client is None:
            raise DomainError("Events are sent with a client's API key (or by a user of exactly one client).",
                              code="client_required")
        events = request.data.get("events") if isinstance(request.data, dict) else None
        result = ingest_events(client=client, items=events, request=request)
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates, "errors": result.errors},
            status=status.HTTP_200_OK,
        )


class CampaignAnalyticsView(ReplicaReadsMixin, GenericAPIView):
    """A campaign's funnel, daily series per event type, and cost per response, from the daily rollups."""

    replica_actions = frozenset({"get"})
    permission_classes = [IsTenantActor]
    queryset = Campaign.objects.none()  # for the schema generator; requests scope their own

    @extend_schema(
        parameters=[OpenApiParameter("from", OpenApiTypes.DATE,
                                     description="First day (YYYY-MM-DD, UTC); default 30 days before today."),
                    OpenApiParameter("to", OpenApiTypes.DATE,
                                     description=f"Last day (YYYY-MM-DD, UTC), on or after `from` and at most "
                                                 f"{MAX_ANALYTICS_DAYS} days later; default today.")],
        responses=inline_serializer("CampaignAnalytics", {"funnel": serializers.ListField(child=serializers.DictField()),
                                                          "daily": serializers.DictField()}),
    )
    def get(self, request, pk):
        campaign = get_object_or_404(Campaign.objects.filter(client__in=clients_for(principal_of(request))), pk=pk)
        today = timezone.now().date()
        start = _day(request.query_params, "from", today - timedelta(days=30))
        end = _day(request.query_params, "to", today)
        refusal = range_refusal(start, end)
        if refusal:
            raise RangeRequired(refusal, field="to")
        return Response(campaign_analytics(campaign=campaign, start=start, end=end))
