from urllib.parse import urlencode

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.tenancy import TenantScopedViewSetMixin
from accounts.choices import Capability
from campaigns.api.views import CampaignChildViewSetMixin
from mobul.schema import error_response

from .. import print_runs
from ..models import PrintRun


class PrintFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    pieces = serializers.IntegerField(allow_null=True, help_text="Pieces in a PDF; null for the CSV files.")
    url = serializers.URLField(help_text="Downloads the file (a redirect to a short-lived signed URL on S3).")


class PrintRunSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)
    files = serializers.SerializerMethodField()

    class Meta:
        model = PrintRun
        fields = ["id", "campaign", "status", "chunk_pieces", "chunks_total", "chunks_done", "pieces_total",
                  "pieces_done", "progress_percent", "findings_total", "pieces_with_findings", "files",
                  "error_message", "attempts", "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    @extend_schema_field(PrintFileSerializer(many=True))
    def get_files(self, run):
        """The PDF of every part stored so far, front then back of each piece in recipient order; once completed,
        the data manifest (CSV: file, pages, recipient, address lines, PURL, short code, QR URL) and the
        preflight findings (CSV: file, page, recipient, side, kind, message)."""
        base = f"{settings.PUBLIC_BASE_URL}/api/v1/print-runs/{run.pk}/download/"
        return [{"name": name, "pieces": pieces, "url": f"{base}?{urlencode({'file': name})}"}
                for name, _, pieces in print_runs.print_files(run)]


class CampaignPrintRunViewSet(CampaignChildViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """A campaign's print runs, newest first, and starting one."""

    queryset = PrintRun.objects.order_by("-created_at", "-pk")
    serializer_class = PrintRunSerializer
    write_capability = Capability.MANAGE_CAMPAIGNS

    @extend_schema(request=None, responses={
        202: PrintRunSerializer,
        409: error_response(409, "The campaign is not approved yet (`campaign_not_approved`), or a run of it is "
                                 "under way (`print_run_active`)."),
    })
    def create(self, request, *args, **kwargs):
        """Renders the whole campaign (approved or later) into print-ready PDFs, in the background: follow the
        run's progress here or at /print-runs/{id}/."""
        run = print_runs.start_print_run(campaign=self.get_campaign(), request=request)
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)


class PrintRunViewSet(TenantScopedViewSetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One print run: its progress, its files."""

    queryset = PrintRun.objects.select_related("campaign__client")
    serializer_class = PrintRunSerializer
    client_lookup = "campaign__client"

    @extend_schema(
        parameters=[OpenApiParameter("file", str, required=True, description="A file name the run lists.")],
        responses={(200, "application/octet-stream"): bytes,
                   302: OpenApiResponse(description="To a short-lived signed URL of the file (S3)."),
                   404: error_response(404, "No such run, or no such file of it (`print_file_not_found`).")})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        return print_runs.print_file_response(self.get_object(), request.query_params.get("file", ""))
