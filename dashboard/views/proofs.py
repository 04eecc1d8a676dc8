"""A campaign's proofs on its page: generate one, watch it render, see its pieces and findings, download it."""

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect

from accounts.choices import Capability
from mailpieces import proofs
from mailpieces.choices import UNFINISHED_PROOF_STATUSES
from mailpieces.downloads import file_response
from mailpieces.models import Proof, ProofPiece
from mobul.exceptions import DomainError, NotFound

from ..tenancy import dashboard_view, scoped_object
from .campaigns import campaign_object


def _proof(request, proof_id):
    return scoped_object(request, Proof.objects.select_related("campaign"), proof_id,
                         client_lookup="campaign__client")


@dashboard_view(capability=None, methods=("POST",))
def proof_generate(request, campaign_id):
    campaign = campaign_object(request, campaign_id, Capability.MANAGE_CAMPAIGNS)
    try:
        proof = proofs.start_proof(campaign=campaign, request=request)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Proof v{proof.version} is being rendered.")
    return redirect("dashboard:campaign_detail", campaign_id=campaign.pk)


@dashboard_view(capability=None)
def proof_status(request, proof_id):
    """What the campaign page polls while a proof renders."""
    proof = _proof(request, proof_id)
    return JsonResponse({"status": proof.status, "status_label": proof.get_status_display(),
                         "percent": proof.progress_percent, "pieces_done": proof.pieces_done,
                         "pieces_total": proof.pieces_total,
                         "finished": proof.status not in UNFINISHED_PROOF_STATUSES})


def _download(find, *args):
    try:
        return file_response(find(*args))
    except NotFound as error:
        raise Http404(error.message) from None


@dashboard_view(capability=None)
def proof_pdf(request, proof_id):
    return _download(proofs.proof_pdf, _proof(request, proof_id))


@dashboard_view(capability=None)
def proof_thumbnail(request, piece_id):
    piece = scoped_object(request, ProofPiece.objects.select_related("proof"), piece_id,
                          client_lookup="proof__campaign__client")
    return _download(proofs.piece_thumbnail, piece, request.GET.get("side", "front"))
