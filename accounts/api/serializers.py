from rest_framework import serializers

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
