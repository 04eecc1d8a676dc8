from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from accounts.choices import Capability
from campaigns.choices import ImportKind
from campaigns.models import ImportJob
from giftcards import services
from giftcards.inventory import start_card_import
from giftcards.models import GiftCardPool
from giftcards.selectors import with_stock
from mobul.exceptions import DomainError

from ..caching import revalidated
from ..selectors import stock_levels
from ..forms import AssignForm, CsvUploadForm, add_service_error
from ..tenancy import dashboard_view, scoped_object

ASSIGN_RESULT_KEY = "dashboard_assign_result"


@revalidated
@dashboard_view()
def pool_list(request):
    pools = [stock_levels(pool) for pool in with_stock(GiftCardPool.objects.filter(client=request.client))
             .order_by("name", "pk")]
    return render(request, "dashboard/giftcards/list.html", {"pools": pools})


def _pool(request, pool_id, capability=Capability.VIEW):
    return scoped_object(request, with_stock(GiftCardPool.objects.select_related("client")), pool_id,
                         client_lookup="client", capability=capability)


def _pool_page(request, pool, upload_form=None, assign_form=None, status=200):
    return render(request, "dashboard/giftcards/detail.html", {
        "pool": stock_levels(pool),
        "can_manage": Capability.MANAGE_GIFT_CARDS in request.capabilities,
        "upload_form": upload_form or CsvUploadForm(),
        "assign_form": assign_form or AssignForm(client=pool.client),
        "assign_result": request.session.pop(ASSIGN_RESULT_KEY, None),
        "imports": ImportJob.objects.filter(pool=pool, kind=ImportKind.GIFT_CARDS).order_by("-created_at", "-pk")[:10],
    }, status=status)


@never_cache
@dashboard_view(capability=None)
def pool_detail(request, pool_id):
    return _pool_page(request, _pool(request, pool_id))


@never_cache
@dashboard_view(capability=None, methods=("POST",))
def pool_upload(request, pool_id):
    pool = _pool(request, pool_id, Capability.MANAGE_GIFT_CARDS)
    form = CsvUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            job = start_card_import(pool=pool, uploaded_file=form.cleaned_data["file"],
                                    on_error=form.cleaned_data["on_error"], request=request)
        except (ValidationError, DomainError) as error:
            add_service_error(form, error)
        else:
            return redirect("dashboard:import_progress", import_id=job.pk)
    return _pool_page(request, pool, upload_form=form, status=400)


@never_cache
@dashboard_view(capability=None, methods=("POST",))
def pool_assign(request, pool_id):
    """Two steps: what assigning to the chosen campaign would take (and from which other campaigns drawing on the
    pool), then, once confirmed on that page, the assignment."""
    pool = _pool(request, pool_id, Capability.MANAGE_GIFT_CARDS)
    form = AssignForm(request.POST, client=pool.client)
    if form.is_valid():
        campaign = form.cleaned_data["campaign"]
        try:
            if not form.cleaned_data["confirmed"]:
                return render(request, "dashboard/giftcards/assign_preview.html", {
                    "pool": stock_levels(pool), "campaign": campaign,
                    "preview": services.assignment_preview(pool=pool, campaign=campaign),
                })
            result = services.assign_cards(pool=pool, campaign=campaign, request=request)
        except DomainError as error:
            add_service_error(form, error)
        else:
            request.session[ASSIGN_RESULT_KEY] = {"campaign": campaign.name, "assigned": result.assigned,
                                                  "shortfall": result.shortfall}
            messages.success(request, f"{result.assigned} card(s) assigned to “{campaign.name}”.")
            return redirect("dashboard:pool_detail", pool_id=pool.pk)
    return _pool_page(request, pool, assign_form=form, status=400)
