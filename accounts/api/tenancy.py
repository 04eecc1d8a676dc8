from mobul.replicas import ReplicaReadsMixin

from ..access import clients_for, principal_of
from ..choices import Capability
from ..permissions import HasClientCapability, IsTenantActor


class TenantScopedViewSetMixin(ReplicaReadsMixin):
    """Scopes a viewset's queryset to the clients the caller may see; its lists read from the replica, if any.

    `client_lookup` is the ORM path from the model to its Client ("client", "campaign__client"),
    or None when the model is Client itself. Another tenant's object is therefore a 404.
    """

    client_lookup = "client"
    read_capability = Capability.VIEW
    write_capability = Capability.VIEW
    permission_classes = [IsTenantActor, HasClientCapability]

    def visible_clients(self):
        return clients_for(principal_of(self.request), self.read_capability)

    def get_queryset(self):
        lookup = f"{self.client_lookup}__in" if self.client_lookup else "pk__in"
        return super().get_queryset().filter(**{lookup: self.visible_clients()})

    def client_of(self, obj):
        if not self.client_lookup:
            return obj
        for attribute in self.client_lookup.split("__"):
            obj = getattr(obj, attribute)
        return obj
