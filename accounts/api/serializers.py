from rest_framework import serializers

from ..access import clients_for, principal_of
from ..choices import Capability
from ..models import Client


class ClientSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = Client
        fields = ["id", "name", "slug", "organization", "is_active", "created_at", "capabilities"]
        read_only_fields = fields

    def get_capabilities(self, client) -> list[str]:
        return sorted(self.context["capability_resolver"].for_client(client))


class PrincipalSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["user", "api_key"])
    email = serializers.EmailField(required=False)
    api_key_prefix = serializers.CharField(required=False)
    scopes = serializers.ListField(child=serializers.CharField(), required=False)
    clients = ClientSerializer(many=True)


class TenantClientField(serializers.PrimaryKeyRelatedField):
    """The client a new object belongs to: only clients the caller may write to are accepted."""

    def __init__(self, capability=Capability.MANAGE_CAMPAIGNS, **kwargs):
        self.capability = capability
        kwargs.setdefault("queryset", Client.objects.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        return clients_for(principal_of(self.context["request"]), self.capability)


class TenantOwnedSerializer(serializers.ModelSerializer):
    """`client` may be left out when the caller can write to exactly one client (always true of API keys)."""

    client = TenantClientField(required=False)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is None and "client" not in attrs:
            writable = list(self.fields["client"].get_queryset()[:2])
            if len(writable) != 1:
                raise serializers.ValidationError({"client": "Choose the client this belongs to."})
            attrs["client"] = writable[0]
        return attrs

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list):
            fields["client"].read_only = True
        return fields
