from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.tenancy import TenantScopedViewSetMixin
from accounts.choices import Capability
from mobul.api import CursorPagination
from mobul.schema import error_response

from .. import services
from ..models import CallSession, TrackingNumber
from ..recordings import playback_url, url_max_age
from .filters import CallSessionFilter
from .serializers import CallSessionSerializer, RecordingUrlSerializer, TrackingNumberSerializer


class TrackingNumberViewSet(TenantScopedViewSetMixin, viewsets.ModelViewSet):
    """Tracking numbers: the number printed on a campaign, where its calls are forwarded, whether they are recorded.

    A number with calls cannot be deleted: set its status to `released` (it may then go on another campaign).
    """

    queryset = TrackingNumber.objects.order_by("phone_number", "pk")
    serializer_class = TrackingNumberSerializer
    write_capability = Capability.MANAGE_CAMPAIGNS
    filterset_fields = ["client", "campaign", "status"]
    ordering_fields = ["phone_number", "created_at"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.create_tracking_number(client=data.pop("client"), request=self.request, **data)

    def perform_update(self, serializer):
        serializer.instance = services.update_tracking_number(
            tracking_number=serializer.instance, request=self.request, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.delete_tracking_number(tracking_number=instance, request=self.request)


class CallSessionCursorPagination(CursorPagination):
    ordering = ("-call_started_at", "-id")


class CallSessionViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         viewsets.GenericViewSet):
    """Calls to tracking numbers, newest first, cursor-paginated. Filter by campaign, start time, caller, whether
    a recipient was matched, and status."""

    queryset = CallSession.objects.select_related("tracking_number", "campaign__client")
    serializer_class = CallSessionSerializer
    client_lookup = "campaign__client"
    filterset_class = CallSessionFilter
    pagination_class = CallSessionCursorPagination
    ordering_fields = []

    @extend_schema(responses={200: RecordingUrlSerializer,
                              409: error_response(409, "The recording is in cold storage (`recording_archived`).")})
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def recording(self, request, pk=None):
        """A short-lived URL that plays the call's recording (404 `no_recording` without one, 409
        `recording_archived` once in cold storage). Each URL handed out is recorded in the audit log."""
        session = self.get_object()
        return Response({"url": playback_url(session=session, request=request), "expires_in": url_max_age()})
