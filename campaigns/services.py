"""Every write to campaigns, templates, recipients and imports goes through these functions."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.forms.models import model_to_dict
from django.utils import timezone

import analytics
import webhooks
from accounts.choices import AuditAction
from accounts.access import request_actor
from accounts.services import record_audit
from analytics.choices import EventSource, EventType
from analytics.services import record_recipient_events
from mobul.celery import after_commit, queue_once
from mobul.db import sql_literal
from webhooks.choices import EventType as WebhookEvent

from .choices import (
    EDITABLE_STATUSES,
    MAILED_STATUSES,
    PRINTING_STATUSES,
    PROOFED_STATUSES,
    TRANSITIONS,
    CampaignStatus,
    ImportKind,
    RecipientStatus,
)
from .exceptions import CampaignLocked, DuplicateRecipient, IllegalTransition, TransitionRuleViolation
from .imports import inspect_upload, map_columns, sniff
from .jobs import new_import_job
from .models import Campaign, MailTemplate, Recipient, StagedImport
from .tasks import mailing_queued_key, record_mailing
from .normalize import collapse, dedupe_hash, normalize_email, normalize_phone
from .tokens import new_redemption_token, new_short_code

def _changes(before, after, fields):
    return {name: [before.get(name), after.get(name)] for name in fields if before.get(name) != after.get(name)}


def _snapshot(instance, fields):
    return {name: str(value) if value is not None else None for name, value in model_to_dict(instance, fields).items()}


def event_source(request):
    """Events caused by an integrator's key come from the API; anything a person did is staff."""
    return EventSource.API if request_actor(request)[1] is not None else EventSource.STAFF


# --- Templates ------------------------------------------------------------------------------

def _create_audited(model, *, client, request, **fields):
    instance = model(client=client, **fields)
    instance.full_clean()
    instance.save()
    record_audit(action=AuditAction.CREATE, obj=instance, client=client, request=request,
                 changes={"name": instance.name})
    return instance


def _apply_audited(instance, *, request, **fields):
    """Sets `fields` on a locked row, validates, saves and audits what actually changed."""
    before = _snapshot(instance, fields)
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.full_clean()
    instance.save()
    record_audit(action=AuditAction.UPDATE, obj=instance, client=instance.client, request=request,
                 changes=_changes(before, _snapshot(instance, fields), fields))
    return instance


@transaction.atomic
def create_template(*, client, request=None, **fields):
    return _create_audited(MailTemplate, client=client, request=request, **fields)


# What a proof shows of a template: a change to one of these makes its campaigns' proofs stale.
PROOFED_TEMPLATE_FIELDS = ("size", "front_html", "back_html")


@transaction.atomic
def update_template(*, template, request=None, **fields):
    """Saves a template; a change to what its pieces look like sends its proofed and approved campaigns back to
    draft, and is refused while one of its campaigns is on its way to the printer."""
    template = MailTemplate.objects.select_for_update().get(pk=template.pk)
    changed = [name for name in PROOFED_TEMPLATE_FIELDS if name in fields and fields[name] != getattr(template, name)]
    proofed = []
    if changed:
        using = Campaign.objects.select_for_update().filter(
            template=template, status__in=PROOFED_STATUSES | PRINTING_STATUSES).order_by("pk")
        proofed = list(using)
        printing = next((campaign for campaign in proofed if campaign.status in PRINTING_STATUSES), None)
        if printing is not None:
            raise CampaignLocked(
                f"Campaign “{printing.name}” is {printing.get_status_display().lower()} with this template, whose "
                "pieces print as it is: copy the template to change it.", field=changed[0])
    template = _apply_audited(template, request=request, **fields)
    for campaign in proofed:
        _return_to_draft(campaign, reason=f"Its template “{template.name}” changed ({', '.join(changed)}).",
                         request=request)
    return template


@transaction.atomic
def delete_template(*, template, request=None):
    """Deletes an unused template; one that campaigns use raises ProtectedError."""
    record_audit(action=AuditAction.DELETE, obj=template, client=template.client, request=request)
    template.delete()


# --- Campaigns ------------------------------------------------------------------------------

@transaction.atomic
def create_campaign(*, client, request=None, **fields):
    return _create_audited(Campaign, client=client, request=request, **fields)


@transaction.atomic
def update_campaign(*, campaign, request=None, **fields):
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    switched = "template" in fields and fields["template"] != campaign.template
    if switched and campaign.status not in EDITABLE_STATUSES:
        raise CampaignLocked(f"The template cannot change once the campaign is {campaign.get_status_display()}.",
                             field="template")
    campaign = _apply_audited(campaign, request=request, **fields)
    if switched:
        _return_to_draft(campaign, reason=f"Its template was switched to “{campaign.template or 'none'}”.",
                         request=request)
    return campaign


# Rules other apps add to the lifecycle (see register_transition_check).
_transition_checks = []


def register_transition_check(check):
    """Adds `check(campaign, target)` to every transition: it raises TransitionRuleViolation to refuse the move,
    or returns details (a dict, or None) recorded with it in its audit row and event. For the rules of apps
    campaigns must not depend on (mailpieces registers its proof rules in its AppConfig.ready())."""
    if check not in _transition_checks:
        _transition_checks.append(check)


def _check_transition_rules(campaign, target):
    """Refuses a move the campaign is not ready for; returns the details the registered checks gave."""
    if target == CampaignStatus.PROOFED and campaign.template_id is None:
        raise TransitionRuleViolation("Attach a mail template before proofing.", field="template")
    if target == CampaignStatus.APPROVED:
        if campaign.template_id is None:
            raise TransitionRuleViolation("A campaign needs a mail template to be approved.", field="template")
        if not campaign.recipients.exists():
            raise TransitionRuleViolation("A campaign needs recipients to be approved.", field="recipients")
    if target in (CampaignStatus.SCHEDULED, CampaignStatus.IN_PRODUCTION, CampaignStatus.MAILED):
        if campaign.mail_date is None:
            raise TransitionRuleViolation("Set a mail date first.", field="mail_date")
    if target == CampaignStatus.SCHEDULED and campaign.mail_date < timezone.localdate():
        raise TransitionRuleViolation("The mail date is in the past.", field="mail_date")
    details = {}
    for check in _transition_checks:
        details.update(check(campaign, target) or {})
    return details


@transaction.atomic
def transition_campaign(*, campaign, to_status, request=None, reason=""):
    """Moves a campaign along its lifecycle, or raises a 409 error that says why not."""
    if to_status not in CampaignStatus.values:
        raise IllegalTransition(f"{to_status!r} is not a campaign status.", field="to")
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    current = CampaignStatus(campaign.status)
    target = CampaignStatus(to_status)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none: this is a final state"
        raise IllegalTransition(
            f"A campaign cannot go from {current.label} to {target.label}. Allowed next steps: {allowed}.",
            field="to",
        )
    details = _check_transition_rules(campaign, target)
    _record_transition(campaign, current, target, request=request, reason=reason, details=details)
    if target == CampaignStatus.MAILED:
        after_commit(lambda: queue_mailing(campaign.pk))
    return campaign


def _record_transition(campaign, current, target, *, request=None, reason="", details=None, **actor):
    """Moves the locked campaign to `target`, with its audit row and its event. `actor` (actor=, api_key=) names
    who did it when there is no request (a worker's import)."""
    campaign.status = target
    campaign.status_changed_at = timezone.now()
    campaign.save(update_fields=["status", "status_changed_at", "updated_at"])
    said = {**(details or {}), **({"reason": reason} if reason else {})}
    record_audit(action=AuditAction.TRANSITION, obj=campaign, client=campaign.client, request=request,
                 changes={"status": [current.value, target.value], **said}, **actor)
    analytics.record_event(
        event_type=EventType.CAMPAIGN_STATUS_CHANGED, campaign_id=campaign.pk, source=event_source(request),
        payload={"from": current.value, "to": target.value, **said},
    )
    webhooks.publish(client_id=campaign.client_id, event_type=WebhookEvent.CAMPAIGN_STATUS_CHANGED, data={
        "campaign_id": campaign.pk, "from": current.value, "to": target.value, "reason": reason,
        "changed_at": campaign.status_changed_at,
    }, occurred_at=campaign.status_changed_at)


def _return_to_draft(campaign, *, reason, request=None, **actor):
    """A locked campaign whose proof no longer shows what would be mailed goes back to draft, whatever the
    lifecycle allows a person to do (approved → draft included)."""
    if campaign.status in PROOFED_STATUSES:
        _record_transition(campaign, CampaignStatus(campaign.status), CampaignStatus.DRAFT, request=request,
                           reason=reason, **actor)


def list_changed(*, campaign, reason, request=None, **actor):
    """Called with the campaign's row locked, in the transaction that changed its mailing list: its proofs no
    longer show the list (list_version moves on), and a proofed campaign goes back to draft."""
    campaign.list_version += 1
    campaign.save(update_fields=["list_version", "updated_at"])
    _return_to_draft(campaign, reason=reason, request=request, **actor)


def queue_mailing(campaign_id):
    """Queues the marking of the campaign's pieces as mailed, unless a run is already waiting for a worker.
    Returns whether it queued one."""
    return queue_once(record_mailing, mailing_queued_key(campaign_id), timeout=settings.MAILING_REQUEUE_SECONDS,
               args=(campaign_id,))


# Pending recipients become mailed; RETURNING feeds one mail_sent event per piece.
MAIL_PENDING_RECIPIENTS_SQL = (
    f"UPDATE recipients SET status = {sql_literal(RecipientStatus.MAILED)}, updated_at = %(now)s"
    f" WHERE campaign_id = %(campaign)s AND deleted_at IS NULL AND status = {sql_literal(RecipientStatus.PENDING)}"
    " RETURNING id"
)


def mark_campaign_mailed(*, campaign_id):
    """Every pending recipient of the campaign is mailed: status and a `mail_sent` event each. Idempotent."""
    return record_recipient_events(
        recipients_sql=MAIL_PENDING_RECIPIENTS_SQL, params={"campaign": campaign_id, "now": timezone.now()},
        campaign_id=campaign_id, event_type=EventType.MAIL_SENT, source=EventSource.MAIL,
    )


def queue_unrecorded_mailings(*, now=None):
    """The way out of a lost record_mailing: campaigns in the mail for MAILING_REQUEUE_SECONDS whose pieces are still
    pending get another run (pieces are only added before approval, so a pending piece there was never marked).
    Returns how many were queued."""
    mailed_before = (now or timezone.now()) - timedelta(seconds=settings.MAILING_REQUEUE_SECONDS)
    pending = Recipient.objects.filter(campaign=OuterRef("pk"), status=RecipientStatus.PENDING)
    unrecorded = Campaign.objects.filter(
        Exists(pending), status__in=MAILED_STATUSES, status_changed_at__lt=mailed_before,
    ).values_list("pk", flat=True)
    return sum(queue_mailing(campaign_id) for campaign_id in unrecorded)


def allowed_transitions(campaign):
    return sorted(TRANSITIONS[CampaignStatus(campaign.status)])


def transition_refusal(campaign, target):
    """Why the campaign cannot move to `target` (an allowed next step) now, or None: for buttons that say so."""
    try:
        _check_transition_rules(campaign, CampaignStatus(target))
    except TransitionRuleViolation as refused:
        return refused.message
    return None


# --- Recipients -----------------------------------------------------------------------------

# What a recipient's piece prints (campaigns.export.merge_values), and the campaign it is printed for.
PRINTED_RECIPIENT_FIELDS = frozenset({"campaign", "first_name", "last_name", "company", "address1", "address2", "city",
                                      "state", "postal_code", "country", "phone", "email", "custom_fields"})

def _lock_editable(campaign):
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in EDITABLE_STATUSES:
        raise CampaignLocked()
    return campaign


@transaction.atomic
def create_recipient(*, campaign, request=None, **fields):
    """Adds one recipient, normalised and checked exactly like an imported row."""
    campaign = _lock_editable(campaign)
    for name in ("first_name", "last_name", "company", "address1", "address2", "city", "state"):
        fields[name] = collapse(fields.get(name, ""))
    fields["postal_code"] = fields.get("postal_code", "").strip().upper()
    fields["country"] = (fields.get("country") or "US").upper()
    for name, normalize in (("phone", normalize_phone), ("email", normalize_email)):
        try:
            fields[name] = normalize(fields.get(name, ""))
        except ValidationError as error:
            raise ValidationError({name: error.messages}) from None
    fingerprint = dedupe_hash(**{name: fields.get(name, "") for name in (
        "external_id", "first_name", "last_name", "company", "address1", "address2", "postal_code")})
    if campaign.recipients.filter(dedupe_hash=fingerprint).exists():
        raise DuplicateRecipient()
    recipient = Recipient(campaign=campaign, dedupe_hash=fingerprint, **fields)
    recipient.full_clean(exclude=["redemption_token", "short_code"])
    for _ in range(3):
        recipient.redemption_token, recipient.short_code = new_redemption_token(), new_short_code()
        try:
            with transaction.atomic():
                recipient.save()
            break
        except IntegrityError:
            # A random token or code collided with an existing one: draw again.
            continue
    else:
        raise IntegrityError("Could not draw a unique redemption token.")
    record_audit(action=AuditAction.CREATE, obj=recipient, client=campaign.client, request=request)
    list_changed(campaign=campaign, reason=f"Recipient {recipient} was added.", request=request)
    return recipient


@transaction.atomic
def delete_recipient(*, recipient, request=None):
    """Soft delete: the row stays for analytics and audit, hidden from every default query."""
    campaign = _lock_editable(recipient.campaign)
    deleted = Recipient.all_objects.filter(pk=recipient.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
    record_audit(action=AuditAction.DELETE, obj=recipient, client=campaign.client, request=request)
    if deleted:
        list_changed(campaign=campaign, reason=f"Recipient {recipient} was deleted.", request=request)


# --- Imports --------------------------------------------------------------------------------

@transaction.atomic
def start_recipient_import(*, campaign, uploaded_file, on_error, mapping=None, request=None):
    """Checks the file (and the column mapping, one target per column, when given), stores it and queues the
    import. Returns the ImportJob to poll."""
    campaign = _lock_editable(campaign)
    inspect_upload(uploaded_file, mapping)
    return _queue_import(campaign, uploaded_file=uploaded_file, on_error=on_error, mapping=mapping, request=request)


def _queue_import(campaign, *, uploaded_file, on_error, mapping, request, original_filename=None):
    job = new_import_job(uploaded_file=uploaded_file, name=f"campaign-{campaign.pk}.csv", request=request,
                         client=campaign.client, campaign=campaign, kind=ImportKind.RECIPIENTS, on_error=on_error,
                         column_map=mapping, original_filename=original_filename)
    record_audit(action=AuditAction.CREATE, obj=job, client=campaign.client, request=request,
                 changes={"file": job.original_filename, "size_bytes": job.size_bytes, "on_error": on_error,
                          **({"mapping": mapping} if mapping is not None else {})})
    return job


@transaction.atomic
def stage_recipient_import(*, campaign, uploaded_file, on_error, request):
    """Step 1 of a dashboard import: checks that the file is a readable CSV with a header and keeps it in storage
    for its uploader, until its columns are mapped (start_staged_import) or it is discarded."""
    campaign = _lock_editable(campaign)
    header, samples = sniff(uploaded_file)
    if not any(cell.strip() for cell in header):
        raise ValidationError({"file": "The file has no header row."})
    staged = StagedImport(client=campaign.client, campaign=campaign, created_by=request.user,
                          original_filename=(uploaded_file.name or "")[:255], size_bytes=uploaded_file.size,
                          header=header, samples=samples, on_error=on_error)
    staged.file.save(f"campaign-{campaign.pk}.csv", uploaded_file, save=False)
    staged.save()
    return staged


@transaction.atomic
def start_staged_import(*, staged, mapping, request):
    """Step 2: queues the import of a staged file with each column's target. The file becomes the job's."""
    campaign = _lock_editable(staged.campaign)
    map_columns(staged.header, mapping)
    job = _queue_import(campaign, uploaded_file=staged.file, on_error=staged.on_error, mapping=mapping,
                        request=request, original_filename=staged.original_filename)
    StagedImport.objects.filter(pk=staged.pk).delete()
    return job


def discard_staged_import(*, staged):
    """Deletes a staged upload and its file (the file only once the row's deletion has committed)."""
    name = staged.file.name
    with transaction.atomic():
        StagedImport.objects.filter(pk=staged.pk).delete()
        transaction.on_commit(lambda: staged.file.storage.delete(name))


def purge_staged_imports(*, now=None):
    """Staged uploads nobody mapped within STAGED_IMPORT_MAX_AGE_SECONDS: deleted with their files."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.STAGED_IMPORT_MAX_AGE_SECONDS)
    stale = list(StagedImport.objects.filter(created_at__lt=cutoff).order_by("pk"))
    for staged in stale:
        discard_staged_import(staged=staged)
    return len(stale)
