"""Settings → Webhooks: a client admin's endpoints, their secrets (shown once), the delivery log and replay."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import redirect, render

from accounts.choices import Capability
from mobul.exceptions import DomainError
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from webhooks.services import create_endpoint, replay, rotate_secret, update_endpoint

from ..forms import WebhookEndpointEditForm, WebhookEndpointForm, add_service_error
from ..tenancy import dashboard_view, scoped_object

LOG_MESSAGES = 50
ATTEMPTS_SHOWN = 3


def _no_store(response, secret):
    if secret:
        response["Cache-Control"] = "no-store"  # the only time the secret leaves us: never kept by a cache
    return response


def _list_page(request, form, new_secret=None, status=200):
    endpoints = WebhookEndpoint.objects.filter(client=request.client).order_by("-created_at", "-pk")
    return _no_store(render(request, "dashboard/settings/webhooks.html", {
        "form": form, "endpoints": endpoints, "new_secret": new_secret,
    }, status=status), new_secret)


@dashboard_view(capability=Capability.MANAGE_WEBHOOKS, methods=("GET", "POST"))
def webhooks(request):
    if request.method == "GET":
        return _list_page(request, WebhookEndpointForm())
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint, secret = create_endpoint(client=request.client, request=request, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            return _list_page(request, WebhookEndpointForm(), new_secret={"endpoint": endpoint, "secret": secret})
    return _list_page(request, form, status=400)


def _endpoint(request, endpoint_id):
    return scoped_object(request, WebhookEndpoint.objects.select_related("client"), endpoint_id,
                         client_lookup="client", capability=Capability.MANAGE_WEBHOOKS)


def _endpoint_page(request, endpoint, form, new_secret=None, status=200):
    log = (WebhookMessage.objects.filter(endpoint=endpoint).order_by("-id")
           .prefetch_related(Prefetch("deliveries", to_attr="recent_attempts",
                                      queryset=WebhookDelivery.objects.order_by("-attempted_at", "-id")[
                                          :ATTEMPTS_SHOWN]))[:LOG_MESSAGES])
    return _no_store(render(request, "dashboard/settings/webhook_endpoint.html", {
        "endpoint": endpoint, "form": form, "log": log, "new_secret": new_secret,
    }, status=status), new_secret)


def _edit_form(endpoint, data=None):
    return WebhookEndpointEditForm(data, initial={"url": endpoint.url, "description": endpoint.description,
                                                  "event_types": endpoint.event_types,
                                                  "is_enabled": endpoint.is_enabled})


@dashboard_view(capability=None, methods=("GET", "POST"))
def webhook_endpoint(request, endpoint_id):
    endpoint = _endpoint(request, endpoint_id)
    if request.method == "GET":
        return _endpoint_page(request, endpoint, _edit_form(endpoint))
    form = _edit_form(endpoint, request.POST)
    if form.is_valid():
        try:
            update_endpoint(endpoint=endpoint, request=request, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("dashboard:webhook_endpoint", endpoint_id=endpoint.pk)
    return _endpoint_page(request, endpoint, form, status=400)


@dashboard_view(capability=None, methods=("POST",))
def webhook_rotate(request, endpoint_id):
    endpoint, secret = rotate_secret(endpoint=_endpoint(request, endpoint_id), request=request)
    return _endpoint_page(request, endpoint, _edit_form(endpoint), new_secret=secret)


@dashboard_view(capability=None, methods=("POST",))
def webhook_replay(request, message_id):
    message = scoped_object(request, WebhookMessage.objects.select_related("client"), message_id,
                            client_lookup="client", capability=Capability.MANAGE_WEBHOOKS)
    try:
        replay(message=message, request=request)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Message {message.webhook_id} is being sent again; its attempt shows below.")
    return redirect("dashboard:webhook_endpoint", endpoint_id=message.endpoint_id)
