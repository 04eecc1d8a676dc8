import hashlib
import json

from django.core.cache import cache
from django.db.models import ProtectedError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.access import can_see_client, has_capability, principal_of
from accounts.api.tenancy import TenantScopedViewSetMixin
from accounts.choices import Capability
from accounts.permissions import HasClientCapability
from mobul.api import CursorPagination
from mobul.exceptions import Conflict

from .. import services
from ..export import export_response
from ..models import Campaign, ImportJob, MailTemplate, Recipient
from .filters import CampaignFilter, ImportJobFilter, RecipientFilter
from .serializers import (
    CampaignSerializer,
    ImportJobSerializer,
    MailTemplateSerializer,
    RecipientImportSerializer,
    RecipientSerializer,
    TransitionSerializer,
)

TEMPLATE_CACHE_SECONDS = 300
TEMPLATE_CACHE_CONTROL = f"public, max-age={TEMPLATE_CACHE_SECONDS}, s-maxage={TEMPLATE_CACHE_SECONDS}"
# How often a template read found no cached copy (kept in the cache, never expires): for the hit ratio.
TEMPLATE_CACHE_MISSES_KEY = "metrics:template_cache_misses"


class RecipientCursorPagination(CursorPagination):
    ordering = "id"


class MailTemplateViewSet(TenantScopedViewSetMixin, viewsets.ModelViewSet):
    """Mail templates. Reads are served from Redis for 5 minutes, with an ETag; any change invalidates."""

    queryset = MailTemplate.objects.order_by("name", "pk")
    serializer_class = MailTemplateSerializer
    write_capability = Capability.MANAGE_CAMPAIGNS
    filterset_fields = ["client", "size"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.create_template(client=data.pop("client"), request=self.request, **data)

    def perform_update(self, serializer):
        serializer.instance = services.update_template(
            template=serializer.instance, request=self.request, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        try:
            services.delete_template(template=instance, request=self.request)
        except ProtectedError:
            raise Conflict("Campaigns use this template; detach it from them first.", code="template_in_use")

    def _cached_representation(self, pk):
        key = MailTemplate.cache_key(pk)
        entry = cache.get(key)
        if entry is None:
            # Misses only are counted, so a hit costs nothing more: hit ratio = 1 - misses / reads.
            cache.incr(TEMPLATE_CACHE_MISSES_KEY, ignore_key_check=True)  # one INCR, which creates the key
            template = get_object_or_404(MailTemplate, pk=pk)
            data = self.get_serializer(template).data
            body = json.dumps(data, sort_keys=True, default=str)
            entry = {"client_id": template.client_id, "data": data,
                     "etag": f'"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'}
            cache.set(key, entry, TEMPLATE_CACHE_SECONDS)
        return entry

    def retrieve(self, request, *args, **kwargs):
        try:
            pk = int(kwargs["pk"])
        except ValueError:
            raise Http404 from None
        entry = self._cached_representation(pk)
        # The cached copy is shared by all callers, so tenancy is checked on every read.
        if not can_see_client(principal_of(request), entry["client_id"]):
            raise Http404
        if request.headers.get("If-None-Match") == entry["etag"]:
            response = Response(status=status.HTTP_304_NOT_MODIFIED)
        else:
            response = Response(entry["data"])
        response["ETag"] = entry["etag"]
        response["Cache-Control"] = TEMPLATE_CACHE_CONTROL
        # Shared caches must keep one copy per credential, never hand one tenant's template to another.
        response["Vary"] = "Authorization, X-API-Key, Cookie"
        return response


class CampaignViewSet(
    TenantScopedViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Campaigns. They are never deleted: cancel one instead (`transition` to `cancelled`)."""

    queryset = Campaign.objects.order_by("-created_at", "-pk")
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    ordering_fields = ["created_at", "mail_date", "name"]
    write_capability = Capability.MANAGE_CAMPAIGNS

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.create_campaign(client=data.pop("client"), request=self.request, **data)

    def perform_update(self, serializer):
        serializer.instance = services.update_campaign(
            campaign=serializer.instance, request=self.request, **serializer.validated_data
        )

    @extend_schema(request=TransitionSerializer, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        campaign = self.get_object()
        payload = TransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        campaign = services.transition_campaign(
            campaign=campaign, to_status=payload.validated_data["to"], reason=payload.validated_data["reason"],
            request=request,
        )
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request={"multipart/form-data": RecipientImportSerializer}, responses={202: ImportJobSerializer})
    @action(detail=True, methods=["post"], url_path="recipients/import", parser_classes=[MultiPartParser, FormParser],
            serializer_class=RecipientImportSerializer, filterset_class=None)
    def import_recipients(self, request, pk=None):
        campaign = self.get_object()
        payload = RecipientImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job = services.start_recipient_import(
            campaign=campaign, uploaded_file=payload.validated_data["file"],
            on_error=payload.validated_data["on_error"], request=request,
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[OpenApiParameter("output", str, enum=["csv", "zip"],
                                     description="csv (QR codes inline as SVG) or zip (CSV plus one SVG per piece)")],
        responses={(200, "text/csv"): bytes, (200, "application/zip"): bytes},
    )
    @action(detail=True, methods=["get"], url_path="export", filterset_class=None, pagination_class=None)
    def export(self, request, pk=None):
        """Print-ready export for the mail vendor: merge fields, PURL and a QR code per recipient."""
        return export_response(self.get_object(), request.query_params.get("output", "csv"))


class CampaignChildViewSetMixin(TenantScopedViewSetMixin):
    """A viewset of one campaign's objects, under campaigns/{campaign_pk}/: another tenant's campaign is a 404, and
    the view's capability is checked on the campaign's client."""

    client_lookup = "campaign__client"

    def get_campaign(self):
        campaign = get_object_or_404(
            Campaign.objects.filter(client__in=self.visible_clients()), pk=self.kwargs["campaign_pk"]
        )
        required = HasClientCapability.required_capability(self.request, self)
        if not has_capability(principal_of(self.request), campaign.client, required):
            self.permission_denied(self.request, message=HasClientCapability.message)
        return campaign

    def get_queryset(self):
        return super().get_queryset().filter(campaign=self.get_campaign())


class CampaignRecipientViewSet(CampaignChildViewSetMixin, mixins.ListModelMixin, mixins.CreateModelMixin,
                               viewsets.GenericViewSet):
    """A campaign's recipients: cursor-paginated list with filters, and adding one recipient."""

    queryset = Recipient.objects.all()
    serializer_class = RecipientSerializer
    filterset_class = RecipientFilter
    pagination_class = RecipientCursorPagination
    ordering_fields = []
    write_capability = Capability.MANAGE_CAMPAIGNS

    def create(self, request, *args, **kwargs):
        self.get_campaign()  # another tenant's campaign is a 404 before the body is even read
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = services.create_recipient(
            campaign=self.get_campaign(), request=self.request, **serializer.validated_data
        )


class RecipientViewSet(TenantScopedViewSetMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                       viewsets.GenericViewSet):
    """One recipient; deleting is a soft delete, allowed while the campaign is editable."""

    queryset = Recipient.objects.select_related("campaign")
    serializer_class = RecipientSerializer
    client_lookup = "campaign__client"
    write_capability = Capability.MANAGE_CAMPAIGNS

    def perform_destroy(self, instance):
        services.delete_recipient(recipient=instance, request=self.request)


class ImportJobViewSet(TenantScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Imports and their progress: poll `GET /imports/{id}/` until status is completed or failed."""

    queryset = ImportJob.objects.order_by("-created_at", "-pk")
    serializer_class = ImportJobSerializer
    filterset_class = ImportJobFilter

    @extend_schema(responses={(200, "text/csv"): bytes})
    @action(detail=True, methods=["get"])
    def errors(self, request, pk=None):
        """The error report: one line per problem, with the row number, the column and the reason."""
        job = self.get_object()
        if not job.error_report:
            raise Http404
        return FileResponse(job.error_report.open("rb"), as_attachment=True,
                            filename=f"import-{job.pk}-errors.csv", content_type="text/csv")
