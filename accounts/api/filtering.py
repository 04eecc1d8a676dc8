from django_filters import ModelChoiceFilter, ModelMultipleChoiceFilter
from django_filters.rest_framework import DjangoFilterBackend

from accounts.access import client_path, clients_for, principal_of
from accounts.choices import Capability


def owned_by(queryset, clients):
    """`queryset` narrowed to rows of `clients`; unchanged for models no client owns."""
    path = client_path(queryset.model)
    if path is None:
        return queryset
    return queryset.filter(**{f"{path or 'pk'}__in": clients})


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
