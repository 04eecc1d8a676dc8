from django.db.models import ProtectedError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.tenancy import TenantScopedViewSetMixin
from accounts.choices import AuditAction, Capability
from accounts.services import record_audit
from campaigns.api.serializers import ImportJobSerializer
from mobul.api import CursorPagination
from mobul.exceptions import Conflict
from mobul.ratelimit import limit
from mobul.schema import error_response

from .. import services
from ..choices import RedemptionChannel
from ..inventory import start_card_import
from ..models import GiftCard, GiftCardPool
from ..selectors import with_stock
from .serializers import (
    AssignResultSerializer,
    AssignSerializer,
    CardImportSerializer,
    GiftCardPoolSerializer,
    GiftCardSerializer,
    MarkRedeemedSerializer,
    RedeemResultSerializer,
    RedeemSerializer,
)


class GiftCardPoolViewSet(TenantScopedViewSetMixin, viewsets.ModelViewSet):
    """Gift-card pools with their stock levels; upload codes into one, assign its cards to a campaign."""

    queryset = GiftCardPool.objects.order_by("name", "pk")
    serializer_class = GiftCardPoolSerializer
    write_capability = Capability.MANAGE_GIFT_CARDS
    filterset_fields = ["client", "brand", "currency"]

    def get_queryset(self):
        return with_stock(super().get_queryset())

    def _with_stock(self, pool):
        return with_stock(GiftCardPool.objects.filter(pk=pool.pk)).get()

    def perform_create(self, serializer):
        pool = serializer.save()
        serializer.instance = self._with_stock(pool)
        record_audit(action=AuditAction.CREATE, obj=pool, client=pool.client, request=self.request,
                     changes={"name": pool.name, "brand": pool.brand, "denomination": str(pool.denomination)})

    def perform_update(self, serializer):
        pool = serializer.save()
        serializer.instance = self._with_stock(pool)
        record_audit(action=AuditAction.UPDATE, obj=pool, client=pool.client, request=self.request,
                     changes={name: str(value) for name, value in serializer.validated_data.items()})

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict("The pool holds cards or campaigns use it; it cannot be deleted.", code="pool_in_use")
        record_audit(action=AuditAction.DELETE, obj=instance, client=instance.client, request=self.request)

    @extend_schema(request={"multipart/form-data": CardImportSerializer}, responses={202: ImportJobSerializer})
    @action(detail=True, methods=["post"], url_path="cards/import", parser_classes=[MultiPartParser, FormParser],
            serializer_class=CardImportSerializer)
    def import_cards(self, request, pk=None):
        pool = self.get_object()
        payload = CardImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job = start_card_import(pool=pool, uploaded_file=payload.validated_data["file"],
                                on_error=payload.validated_data["on_error"], request=request)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=AssignSerializer, responses=AssignResultSerializer)
    @action(detail=True, methods=["post"], serializer_class=AssignSerializer)
    def assign(self, request, pk=None):
        """Pairs the pool's free cards one-to-one with the campaign's recipients that have none."""
        pool = self.get_object()
        payload = AssignSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        result = services.assign_cards(pool=pool, campaign=payload.validated_data["campaign"], request=request)
        return Response({"assigned": result.assigned, "shortfall": result.shortfall})


class GiftCardCursorPagination(CursorPagination):
    ordering = "-id"


class GiftCardViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      viewsets.GenericViewSet):
    """Cards, last 4 characters only. Filter by pool, status, recipient or campaign."""

    queryset = GiftCard.objects.select_related("recipient")
    serializer_class = GiftCardSerializer
    client_lookup = "pool__client"
    write_capability = Capability.MANAGE_GIFT_CARDS
    pagination_class = GiftCardCursorPagination
    filterset_fields = {"pool": ["exact"], "status": ["exact", "in"], "recipient": ["exact"],
                        "recipient__campaign": ["exact"]}
    ordering_fields = []

    @extend_schema(request=MarkRedeemedSerializer, responses=GiftCardSerializer)
    @action(detail=True, methods=["post"], serializer_class=MarkRedeemedSerializer)
    def redeemed(self, request, pk=None):
        """The brand confirmed that a claimed or delivered card was spent: it becomes `redeemed`. Repeating it
        changes nothing; any other card is a 409."""
        card = self.get_object()
        payload = MarkRedeemedSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        card = services.mark_redeemed(card=card, redeemed_at=payload.validated_data.get("redeemed_at"),
                                      request=request)
        return Response(GiftCardSerializer(card).data)


class RedeemView(APIView):
    """Public: a recipient claims their gift card with their redemption token. Repeats return the same card."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=RedeemSerializer, responses={
        201: OpenApiResponse(RedeemResultSerializer, description="The card was claimed by this request."),
        200: OpenApiResponse(RedeemResultSerializer, description="The card was already claimed: the same card again."),
        404: error_response(404, "No recipient has this token."),
        409: error_response(409, "The campaign is not active, has no reward, or has no cards left."),
        429: error_response(429, "Too many attempts from this address or for this token, or a redemption too soon "
                                 "after the last one: try again after `Retry-After` seconds."),
        503: error_response(503, "The rate limiter cannot be reached, so redemptions are paused: try again shortly."),
    })
    def post(self, request):
        payload = RedeemSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        token = payload.validated_data["token"]
        limit(request, "redemption", keys={"ip": None, "token": token})
        redemption = services.redeem(token=token, channel=RedemptionChannel.API, request=request)
        card, pool = redemption.card, redemption.card.pool
        return Response({
            "code": redemption.code, "last4": card.last4, "brand": pool.brand, "denomination": str(pool.denomination),
            "currency": pool.currency, "status": card.status, "already_claimed": not redemption.created,
        }, status=status.HTTP_201_CREATED if redemption.created else status.HTTP_200_OK)
