from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from ..access import CapabilityResolver, clients_for, principal_of
from ..models import ApiKey, Client
from ..permissions import IsTenantActor
from .serializers import ClientSerializer, PrincipalSerializer
from .tenancy import TenantScopedViewSetMixin


class ClientViewSet(TenantScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The clients the caller can act for, with what the caller may do on each."""

    queryset = Client.objects.select_related("organization").order_by("name", "pk")
    serializer_class = ClientSerializer
    client_lookup = None
    filterset_fields = ["is_active"]

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "capability_resolver": CapabilityResolver(principal_of(self.request))}


class MeView(APIView):
    """Who is calling: the user or API key, and the clients it can act for."""

    permission_classes = [IsTenantActor]

    @extend_schema(responses=PrincipalSerializer)
    def get(self, request):
        principal = principal_of(request)
        if isinstance(principal, ApiKey):
            data = {"kind": "api_key", "api_key_prefix": principal.prefix, "scopes": principal.scopes}
        else:
            data = {"kind": "user", "email": principal.email}
        clients = clients_for(principal).select_related("organization").order_by("name", "pk")[:100]
        context = {"capability_resolver": CapabilityResolver(principal)}
        data["clients"] = ClientSerializer(clients, many=True, context=context).data
        return Response(data)
