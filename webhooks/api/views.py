from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.tenancy import TenantScopedViewSetMixin
from accounts.choices import Capability
from mobul.api import CursorPagination

from .. import services
from ..choices import EventType, MessageStatus
from ..models import WebhookEndpoint, WebhookMessage
from .serializers import (
    WebhookEndpointSerializer,
    WebhookEndpointWithSecretSerializer,
    WebhookMessageDetailSerializer,
    WebhookMessageSerializer,
)


class WebhookEndpointViewSet(TenantScopedViewSetMixin, viewsets.ModelViewSet):
    """Where your events are sent. The signing secret is in the answer to create and rotate-secret only."""

    queryset = WebhookEndpoint.objects.order_by("-created_at", "-pk")
    serializer_class = WebhookEndpointSerializer
    write_capability = Capability.MANAGE_WEBHOOKS
    filterset_fields = ["is_enabled"]

    def _with_secret(self, endpoint, secret, status_code):
        endpoint.secret = secret
        return Response(WebhookEndpointWithSecretSerializer(endpoint, context=self.get_serializer_context()).data,
                        status=status_code)

    @extend_schema(responses={201: WebhookEndpointWithSecretSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("is_enabled", None)
        endpoint, secret = services.create_endpoint(client=data.pop("client"), request=request, **data)
        return self._with_secret(endpoint, secret, status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = services.update_endpoint(endpoint=serializer.instance, request=self.request,
                                                       **serializer.validated_data)

    def perform_destroy(self, instance):
        services.delete_endpoint(endpoint=instance, request=self.request)

    @extend_schema(request=None, responses=WebhookEndpointWithSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new secret, shown once. The previous one keeps signing too for WEBHOOKS_SECRET_OVERLAP_SECONDS (24 h),
        so deliveries carry both signatures while you switch."""
        endpoint, secret = services.rotate_secret(endpoint=self.get_object(), request=request)
        return self._with_secret(endpoint, secret, status.HTTP_200_OK)


class WebhookMessageFilter(filters.FilterSet):
    event_type = filters.MultipleChoiceFilter(choices=EventType.choices)
    status = filters.MultipleChoiceFilter(choices=MessageStatus.choices)

    class Meta:
        model = WebhookMessage
        fields = ["endpoint", "event_type", "status"]


class WebhookMessagePagination(CursorPagination):
    ordering = "-id"


class WebhookMessageViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                            viewsets.GenericViewSet):
    """Every message sent (or being sent) to your endpoints, newest first; a message's detail lists its delivery
    attempts (status code, latency, the start of the answer)."""

    queryset = WebhookMessage.objects.order_by("-id")
    serializer_class = WebhookMessageSerializer
    pagination_class = WebhookMessagePagination
    filterset_class = WebhookMessageFilter
    capability_by_action = {"replay": Capability.MANAGE_WEBHOOKS}

    def get_serializer_class(self):
        return WebhookMessageDetailSerializer if self.action in ("retrieve", "replay") else WebhookMessageSerializer

    @extend_schema(request=None, responses={202: WebhookMessageDetailSerializer})
    @action(detail=True, methods=["post"], filterset_class=None)
    def replay(self, request, pk=None):
        """Sends the message again now, as one more attempt; 409 while an attempt is under way or the endpoint is
        disabled."""
        message = services.replay(message=self.get_object(), request=request)
        return Response(self.get_serializer(message).data, status=status.HTTP_202_ACCEPTED)
