from django_filters import ModelChoiceFilter, ModelMultipleChoiceFilter
from django_filters.rest_framework import DjangoFilterBackend

from accounts.access import clients_for, principal_of
from accounts.choices import Capability
from accounts.models import Client

# From a model to the client that owns it, first match wins.
CLIENT_PATHS = ("client", "campaign__client", "pool__client")


def owned_by(queryset, clients):
    """`queryset` narrowed to rows of `clients`; unchanged for models no client owns."""
    model = queryset.model
    if model is Client:
        return queryset.filter(pk__in=clients)
    field_names = {field.name for field in model._meta.get_fields()}
    for path in CLIENT_PATHS:
        if path.split("__")[0] in field_names:
            return queryset.filter(**{f"{path}__in": clients})
    return queryset


class TenantFilterBackend(DjangoFilterBackend):
    """A filter naming another object accepts only the caller's own: another tenant's id is refused exactly
    like an id that does not exist, so no filter can tell whether another tenant's object exists."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is None:
            return None
        clients = clients_for(principal_of(request), Capability.VIEW)
        for filter_ in filterset.filters.values():
            if isinstance(filter_, (ModelChoiceFilter, ModelMultipleChoiceFilter)):
                filter_.queryset = owned_by(filter_.get_queryset(request), clients)
        return filterset
