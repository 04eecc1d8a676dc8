from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.choices import Capability
from campaigns.api.views import CampaignChildViewSetMixin
from mobul.schema import error_response

from .. import proofs
from ..downloads import file_response
from ..choices import Side
from ..models import Proof
from .serializers import ProofSerializer


class CampaignProofViewSet(CampaignChildViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           viewsets.GenericViewSet):
    """A campaign's proofs, newest first: a rendered sample of its real pieces with preflight findings. `POST`
    starts one (202; poll its `status` until ready or failed). A proof is stale once the template or the mailing
    list changes; marking proofed needs a current ready proof, approving one with no findings."""

    queryset = Proof.objects.select_related("campaign").prefetch_related("pieces__recipient", "pieces__proof")
    serializer_class = ProofSerializer
    lookup_field = "version"
    lookup_value_regex = "[0-9]+"
    filterset_class = None
    ordering_fields = []
    write_capability = Capability.MANAGE_CAMPAIGNS

    def get_queryset(self):
        return super().get_queryset().order_by("-version")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "campaign_pk" in self.kwargs:
            context["fingerprint"] = proofs.fingerprint(self.get_campaign())
        return context

    @extend_schema(request=None, responses={
        202: ProofSerializer,
        400: error_response(400, "An Idempotency-Key that is not 1 to 255 printable characters."),
        409: error_response(409, "The campaign has no template or no recipients (`proof_refused`)."),
    })
    def create(self, request, *args, **kwargs):
        proof = proofs.start_proof(campaign=self.get_campaign(), request=request)
        return Response(self.get_serializer(proof).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"])
    def pdf(self, request, *args, **kwargs):
        """The proof's print-ready PDF: front then back of each sample piece."""
        return file_response(proofs.proof_pdf(self.get_object()))

    @extend_schema(
        parameters=[OpenApiParameter("piece", int, required=True, description=(
            "The position (1, 2, …) of one of the pieces of this proof of your own campaign; one it does not have "
            "is a 404.")),
                    OpenApiParameter("side", str, enum=Side.values, required=True)],
        responses={(200, "image/png"): bytes},
    )
    @action(detail=True, methods=["get"])
    def thumbnail(self, request, *args, **kwargs):
        """A 600 px wide PNG of one side of one sample piece."""
        position = request.query_params.get("piece", "")
        piece = self.get_object().pieces.filter(position=position).first() if position.isdigit() else None
        return file_response(proofs.piece_thumbnail(piece, request.query_params.get("side")))
