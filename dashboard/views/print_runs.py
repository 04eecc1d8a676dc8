from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect

from accounts.choices import Capability
from mailpieces.exceptions import PrintFileNotFound
from mailpieces.models import PrintRun
from mailpieces.print_runs import print_file_response, start_print_run
from mobul.exceptions import DomainError

from ..tenancy import dashboard_view, scoped_object
from .campaigns import campaign_object


@dashboard_view(capability=None, methods=("POST",))
def print_run_start(request, campaign_id):
    campaign = campaign_object(request, campaign_id, Capability.MANAGE_CAMPAIGNS)
    try:
        run = start_print_run(campaign=campaign, request=request)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Print run #{run.pk} started: the files appear below as they are rendered.")
    return redirect("dashboard:campaign_detail", campaign_id=campaign.pk)


@dashboard_view(capability=None)
def print_run_download(request, print_run_id):
    run = scoped_object(request, PrintRun.objects.select_related("campaign__client"), print_run_id,
                        client_lookup="campaign__client")
    file = request.GET.get("file", "")
    if not file:
        messages.error(request, "Choose one of the run's files.")
        return redirect("dashboard:campaign_detail", campaign_id=run.campaign_id)
    try:
        return print_file_response(run, file)
    except PrintFileNotFound:
        raise Http404("The print run has no such file (yet).") from None
