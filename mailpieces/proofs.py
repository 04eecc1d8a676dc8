"""Proofs: a sample of a campaign's real pieces rendered (PDF, thumbnails of both sides) and preflighted, versioned
per campaign, and the rules that a campaign is proofed and approved from a current proof (register_rules).

    pending --claim--> running --finish--> ready | failed
       ^                  | silent PROOF_TIMEOUT_SECONDS (its worker died): failed, by the sweeper or the
       +-- sweeper -------+ next proof started for the campaign
       (a lost message is queued again after PROOF_REQUEUE_SECONDS; failed once PROOF_TIMEOUT_SECONDS old)

A run owns its proof while the proof is running: its progress and its finish touch the row only then, so a run
given up for dead cannot bring back a proof the sweeper failed. A proof is a few pieces: rendering it again is
cheaper than resuming it, and the person who asked for it sees it fail and asks again.
"""

import hashlib
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import Length
from django.utils import timezone

import webhooks
from accounts.access import request_actor
from accounts.choices import AuditAction
from accounts.services import record_audit
from campaigns.choices import CampaignStatus
from campaigns.exceptions import TransitionRuleViolation
from campaigns.models import STANDARD_MERGE_FIELDS, Campaign
from campaigns.services import register_transition_check
from mobul.celery import after_commit
from mobul.exceptions import DomainError, NotFound
from webhooks.choices import EventType as WebhookEvent

from .choices import UNFINISHED_PROOF_STATUSES, ProofStatus, SampleReason, Side
from .exceptions import ProofRefused
from .models import Proof, ProofPiece

logger = logging.getLogger(__name__)

# Findings a refused approval names; the proof lists them all.
NAMED_FINDINGS = 3


class ProofTakenOver(Exception):
    """The proof is no longer this run's: the sweeper failed it while the run went on."""


# --- What a proof was made from ---------------------------------------------------------------

def fingerprint(campaign):
    """What a proof of the campaign shows, as it is now: its template's sides and size, and its list's version
    (campaigns counts every change to the list): no recipient is read, however many there are."""
    template = campaign.template
    made_from = {"list_version": campaign.list_version, "template": template and {
        "id": template.pk, "size": template.size, "front_html": template.front_html, "back_html": template.back_html}}
    return hashlib.sha256(json.dumps(made_from, sort_keys=True).encode()).hexdigest()


def is_current(proof, campaign):
    return proof.fingerprint == fingerprint(campaign)


def custom_fields_used(template):
    from .render import QR_FIELD

    # The QR code and its URL are Mobul's, not the recipient's data.
    return sorted(set(template.merge_fields) - STANDARD_MERGE_FIELDS - {QR_FIELD, "qr_url"})


def choose_sample(campaign):
    """[(recipient, [SampleReason])]: the first recipient (by pk), the longest name, the longest address and one
    with every custom field the template uses, each once (one recipient may be several), in that order. One
    ordered LIMIT 1 read of the campaign's recipients per reason."""
    recipients = campaign.recipients.all()
    name_length = Length("first_name") + Length("last_name")
    address_length = (Length("company") + Length("address1") + Length("address2") + Length("city") + Length("state")
                      + Length("postal_code"))
    candidates = [
        (SampleReason.FIRST, recipients.order_by("pk")),
        (SampleReason.LONGEST_NAME, recipients.order_by(name_length.desc(), "pk")),
        (SampleReason.LONGEST_ADDRESS, recipients.order_by(address_length.desc(), "pk")),
    ]
    custom = custom_fields_used(campaign.template)
    if custom:
        candidates.append((SampleReason.ALL_CUSTOM_FIELDS,
                           recipients.filter(custom_fields__has_keys=custom).order_by("pk")))
    sample = {}
    for reason, ordered in candidates:
        recipient = ordered.first()
        if recipient is not None:
            sample.setdefault(recipient.pk, (recipient, []))[1].append(reason)
    return list(sample.values())


# --- Starting, running and sweeping proofs ----------------------------------------------------

def _queue(proof_id):
    from .tasks import generate_proof

    after_commit(lambda: generate_proof.delay(proof_id))


@transaction.atomic
def start_proof(*, campaign, request=None):
    """A new proof of the campaign, queued once the transaction commits; or the one already on its way for the
    campaign as it is now. Returns the Proof to poll."""
    campaign = Campaign.objects.select_for_update(of=("self",)).select_related("template", "client").get(pk=campaign.pk)
    if campaign.template is None:
        raise ProofRefused("Attach a mail template before generating a proof.", field="template")
    if not campaign.recipients.exists():
        raise ProofRefused("Add recipients first: a proof shows real pieces of the mailing list.", field="recipients")
    sweep(campaign=campaign)
    made_from = fingerprint(campaign)
    unfinished = campaign.proofs.filter(status__in=UNFINISHED_PROOF_STATUSES, fingerprint=made_from)
    proof = unfinished.order_by("-version").first()
    if proof is not None:
        return proof
    user, api_key = request_actor(request)
    version = (campaign.proofs.aggregate(latest=Max("version"))["latest"] or 0) + 1
    proof = Proof.objects.create(campaign=campaign, version=version, fingerprint=made_from, created_by=user,
                                 api_key=api_key, queued_at=timezone.now())
    record_audit(action=AuditAction.CREATE, obj=proof, client=campaign.client, request=request,
                 changes={"version": version})
    _queue(proof.pk)
    return proof


def _claim(proof_id):
    now = timezone.now()
    claimed = Proof.objects.filter(pk=proof_id, status=ProofStatus.PENDING).update(
        status=ProofStatus.RUNNING, started_at=now, heartbeat_at=now, queued_at=None, pieces_done=0)
    return Proof.objects.select_related("campaign__template").get(pk=proof_id) if claimed else None


def _ours(proof):
    return Proof.objects.filter(pk=proof.pk, status=ProofStatus.RUNNING)


def _update(proof, **changes):
    if not _ours(proof).update(heartbeat_at=timezone.now(), **changes):
        raise ProofTakenOver()


def generate(proof_id):
    """Renders a pending proof to ready (or failed, saying why). Does nothing for a proof that is not pending."""
    proof = _claim(proof_id)
    if proof is None:
        return None
    try:
        _render(proof)
    except ProofTakenOver:
        logger.warning("proof %s was given up for dead while this run went on", proof_id)
        return None
    except DomainError as error:  # the template cannot render, the list emptied since the proof was asked for
        _fail(proof, error.message)
    except Exception:
        logger.exception("proof %s failed", proof_id)
        _fail(proof, "The proof could not be rendered; support has the details. Try again, or ask support.")
    proof.refresh_from_db()
    return proof


def _fail(proof, message):
    _ours(proof).update(status=ProofStatus.FAILED, error_message=message, finished_at=timezone.now())


def _render(proof):
    # Imported here: WeasyPrint and the PDF libraries load only in the workers that render, not in web processes.
    from .preflight import preflight
    from .render import MailPieceRenderer, page_index, thumbnails

    campaign = proof.campaign
    # Taken before anything is read: a change made while the proof renders makes it stale, never wrongly current.
    made_from = fingerprint(campaign)
    renderer = MailPieceRenderer(campaign)
    sample = choose_sample(campaign)
    if not sample:
        raise ProofRefused("The campaign has no recipients left to render: add some and generate the proof again.")
    _update(proof, fingerprint=made_from, pieces_total=len(sample))
    recipients = [recipient for recipient, _ in sample]
    pdf = renderer.write_pdf(recipients)
    name = f"proof-{campaign.pk}-v{proof.version}"
    proof.pdf.save(f"{name}.pdf", ContentFile(pdf), save=False)
    _update(proof, pdf=proof.pdf.name)  # recorded at once: retention finds a failed proof's files too
    findings = []
    for index, (recipient, reasons) in enumerate(sample):
        position = index + 1
        findings += [{**finding.as_dict(), "position": position} for finding in preflight(renderer, [recipient])]
        front, back = thumbnails(pdf, [page_index(index, Side.FRONT), page_index(index, Side.BACK)])
        piece = ProofPiece(proof=proof, position=position, recipient=recipient, reasons=reasons)
        piece.front_thumbnail.save(f"{name}-{position}-front.png", ContentFile(front), save=False)
        piece.back_thumbnail.save(f"{name}-{position}-back.png", ContentFile(back), save=False)
        piece.save()
        _update(proof, pieces_done=position)
    finished_at = timezone.now()
    with transaction.atomic():
        _update(proof, status=ProofStatus.READY, pdf=proof.pdf.name, findings=findings, finished_at=finished_at)
        webhooks.publish(client_id=campaign.client_id, event_type=WebhookEvent.PROOF_READY, data={
            "proof_id": proof.pk, "campaign_id": campaign.pk, "version": proof.version,
            "pieces": len(sample), "findings": len(findings), "finished_at": finished_at,
        }, occurred_at=finished_at)


def _dead_message():
    return (f"The proof's worker stopped (nothing heard for {settings.PROOF_TIMEOUT_SECONDS} s) before it finished. "
            "Generate the proof again.")


def sweep(*, now=None, campaign=None):
    """The way out of a lost message or a dead worker (every minute, and for a campaign before a proof of it is
    started): a running proof silent for PROOF_TIMEOUT_SECONDS fails; a pending one is queued again when its
    message is PROOF_REQUEUE_SECONDS late, and fails once PROOF_TIMEOUT_SECONDS old. Returns the counts."""
    now = now or timezone.now()
    given_up = now - timedelta(seconds=settings.PROOF_TIMEOUT_SECONDS)
    proofs = Proof.objects.all() if campaign is None else campaign.proofs.all()
    with transaction.atomic():
        dead = (Q(status=ProofStatus.RUNNING, heartbeat_at__lt=given_up)
                | Q(status=ProofStatus.PENDING, created_at__lt=given_up))
        failed = proofs.filter(dead).update(status=ProofStatus.FAILED, finished_at=now, error_message=_dead_message())
        late = proofs.filter(status=ProofStatus.PENDING,
                             queued_at__lt=now - timedelta(seconds=settings.PROOF_REQUEUE_SECONDS))
        requeued = list(late.values_list("pk", flat=True))
        late.filter(pk__in=requeued).update(queued_at=now)
        for proof_id in requeued:
            _queue(proof_id)
    return {"failed": failed, "requeued": len(requeued)}


def erase_files(*, campaign_ids):
    """Proofs print recipients' names and addresses: once retention clears a campaign's personal data, its proofs'
    PDFs and thumbnails go too (the rows stay, with who approved which version). Returns the files removed."""
    erased = 0
    for piece in ProofPiece.objects.filter(proof__campaign_id__in=campaign_ids).exclude(front_thumbnail="",
                                                                                        back_thumbnail=""):
        for side in Side:
            if piece.thumbnail(side):
                piece.thumbnail(side).delete(save=False)
                erased += 1
        piece.save(update_fields=["front_thumbnail", "back_thumbnail"])
    for proof in Proof.objects.filter(campaign_id__in=campaign_ids).exclude(pdf=""):
        proof.pdf.delete(save=False)
        proof.save(update_fields=["pdf"])
        erased += 1
    return erased


# --- Reading proofs ---------------------------------------------------------------------------

def latest_proof(campaign):
    """The campaign's newest proof with its pieces, and whether it is current: (proof, is_current), or (None, False)."""
    proof = campaign.proofs.prefetch_related("pieces__recipient").order_by("-version").first()
    return proof, proof is not None and is_current(proof, campaign)


def proof_pdf(proof):
    """(file, download name, content type) of the proof's PDF; NotFound before it has one."""
    if not proof.pdf:
        raise NotFound("This proof has no PDF yet.")
    return proof.pdf, f"proof-{proof.campaign_id}-v{proof.version}.pdf", "application/pdf"


def piece_thumbnail(piece, side):
    """(file, download name, content type) of a thumbnail of one side of a sample piece (None: NotFound)."""
    if piece is None or side not in Side.values or not piece.thumbnail(side):
        raise NotFound("This proof has no such thumbnail: give piece (a position) and side (front or back).")
    proof = piece.proof
    return piece.thumbnail(side), f"proof-{proof.campaign_id}-v{proof.version}-{piece.position}-{side}.png", "image/png"


def describe_finding(finding):
    return f"piece {finding['position']}, {finding['side']}: {finding['message']}"


# --- The lifecycle rules ----------------------------------------------------------------------

def check_transition(campaign, target):
    """Proofing needs a current ready proof; approving, one with no finding. Returns the proof version recorded
    with the move (who approved which proof)."""
    if target not in (CampaignStatus.PROOFED, CampaignStatus.APPROVED) or campaign.template_id is None:
        return None
    proof = campaign.proofs.filter(status=ProofStatus.READY).order_by("-version").first()
    if proof is None:
        raise TransitionRuleViolation("Generate a proof and check it first: there is no ready proof.", field="proof")
    if not is_current(proof, campaign):
        raise TransitionRuleViolation(
            f"Proof v{proof.version} is stale: the template or the mailing list changed after it was made. "
            "Generate a new proof.", field="proof")
    if target == CampaignStatus.APPROVED and proof.findings:
        count = len(proof.findings)
        named = "; ".join(describe_finding(finding) for finding in proof.findings[:NAMED_FINDINGS])
        more = f" (and {count - NAMED_FINDINGS} more)" if count > NAMED_FINDINGS else ""
        raise TransitionRuleViolation(
            f"Proof v{proof.version} has {count} preflight finding{'s' if count > 1 else ''} to fix before approval: "
            f"{named}{more}. Fix the template or the list and generate a new proof.", field="proof")
    return {"proof_version": proof.version}


def register_rules():
    register_transition_check(check_transition)
