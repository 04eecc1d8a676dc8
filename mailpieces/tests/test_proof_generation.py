"""A proof end to end: started, rendered by its task (eager Celery), its sample chosen from the real list, its
files in storage, its progress and findings recorded; and its way out when the worker dies."""

from datetime import timedelta

import pypdfium2
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from accounts.choices import AuditAction
from accounts.models import AuditLog
from mailpieces import proofs
from mailpieces.choices import FindingKind, ProofStatus, SampleReason, Side
from mailpieces.exceptions import ProofRefused
from mailpieces.models import Proof
from mailpieces.tests.factories import CLEAN_FRONT, add_recipient, campaign_with

pytestmark = pytest.mark.django_db

TIER_FRONT = CLEAN_FRONT + '<div style="position: absolute; left: 0.6in; top: 4in">Tier {{ tier }} {{ region }}</div>'


def _generate(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        proof = proofs.start_proof(campaign=campaign)
    proof.refresh_from_db()
    return proof


def test_a_proof_renders_the_sample_stores_its_files_and_records_progress(tenant_a,
                                                                          django_capture_on_commit_callbacks):
    campaign = campaign_with(tenant_a.client, front=TIER_FRONT)
    first = add_recipient(campaign, 1, custom_fields={"tier": "gold"})
    add_recipient(campaign, 2)
    long_name = add_recipient(campaign, 3, first_name="Maximiliana-Josephine", last_name="Featherstonehaugh")
    long_address = add_recipient(campaign, 4, address1="12345 Extraordinarily Long Boulevard Northwest",
                                 address2="Apartment 1234")
    every_field = add_recipient(campaign, 5, custom_fields={"tier": "silver", "region": "north"})
    add_recipient(campaign, 6, custom_fields={"tier": "bronze", "region": "south"})

    proof = _generate(campaign, django_capture_on_commit_callbacks)

    assert proof.status == ProofStatus.READY and proof.version == 1
    assert (proof.pieces_done, proof.pieces_total, proof.progress_percent) == (4, 4, 100)
    campaign.refresh_from_db()
    assert proofs.is_current(proof, campaign)
    pieces = list(proof.pieces.order_by("position"))
    assert [(piece.recipient_id, piece.reasons) for piece in pieces] == [
        (first.pk, [SampleReason.FIRST]), (long_name.pk, [SampleReason.LONGEST_NAME]),
        (long_address.pk, [SampleReason.LONGEST_ADDRESS]), (every_field.pk, [SampleReason.ALL_CUSTOM_FIELDS]),
    ]
    with default_storage.open(proof.pdf.name, "rb") as handle:
        pdf = pypdfium2.PdfDocument(handle.read())
    assert len(pdf) == 8  # front and back of four pieces
    pdf.close()
    for piece in pieces:
        for side in Side:
            with default_storage.open(piece.thumbnail(side).name, "rb") as handle:
                assert Image.open(handle).size[0] == 600
    # The pieces lacking {{ region }} say so, per piece; the one with every field does not.
    unknown = {finding["position"] for finding in proof.findings if finding["kind"] == FindingKind.MERGE_FIELD_UNKNOWN}
    assert unknown == {1, 2, 3}
    assert all(finding["recipient_id"] == pieces[finding["position"] - 1].recipient_id for finding in proof.findings)
    assert AuditLog.objects.filter(action=AuditAction.CREATE, object_type="mailpieces.Proof",
                                   object_id=str(proof.pk)).exists()


def test_one_recipient_is_every_reason_and_versions_count_up(tenant_a, django_capture_on_commit_callbacks):
    campaign = campaign_with(tenant_a.client)
    only = add_recipient(campaign, 1)
    first = _generate(campaign, django_capture_on_commit_callbacks)
    assert [(piece.recipient_id, piece.reasons) for piece in first.pieces.all()] == [
        (only.pk, [SampleReason.FIRST, SampleReason.LONGEST_NAME, SampleReason.LONGEST_ADDRESS])]
    assert first.findings == []
    second = _generate(campaign, django_capture_on_commit_callbacks)
    assert (first.version, second.version) == (1, 2)


def test_a_proof_on_its_way_is_returned_instead_of_a_second_one(tenant_a):
    campaign = campaign_with(tenant_a.client)
    add_recipient(campaign, 1)
    queued = proofs.start_proof(campaign=campaign)  # its task runs on commit, which a test never reaches
    assert proofs.start_proof(campaign=campaign) == queued
    assert queued.status == ProofStatus.PENDING


def test_no_proof_without_a_template_or_recipients(tenant_a):
    campaign = campaign_with(tenant_a.client)
    with pytest.raises(ProofRefused, match="Add recipients"):
        proofs.start_proof(campaign=campaign)
    campaign.template = None
    campaign.save()
    with pytest.raises(ProofRefused, match="template"):
        proofs.start_proof(campaign=campaign)


def test_a_template_that_cannot_render_fails_the_proof_with_its_reason(tenant_a, django_capture_on_commit_callbacks):
    campaign = campaign_with(tenant_a.client, front="<div><p>never closed")
    add_recipient(campaign, 1)
    proof = _generate(campaign, django_capture_on_commit_callbacks)
    assert proof.status == ProofStatus.FAILED
    assert "does not stand on its own" in proof.error_message


def test_a_dead_worker_s_proof_fails_and_a_lost_message_is_sent_again(tenant_a, settings, time_machine):
    time_machine.move_to("2027-03-01T12:00:00Z", tick=False)
    campaign = campaign_with(tenant_a.client)
    add_recipient(campaign, 1)
    lost = proofs.start_proof(campaign=campaign)
    running = Proof.objects.create(campaign=campaign, version=9, status=ProofStatus.RUNNING, fingerprint="x",
                                   heartbeat_at=timezone.now())
    time_machine.move_to(timezone.now() + timedelta(seconds=settings.PROOF_REQUEUE_SECONDS + 1), tick=False)
    assert proofs.sweep() == {"failed": 0, "requeued": 1}
    time_machine.move_to(timezone.now() + timedelta(seconds=settings.PROOF_TIMEOUT_SECONDS), tick=False)
    assert proofs.sweep() == {"failed": 2, "requeued": 0}
    for proof in (lost, running):
        proof.refresh_from_db()
        assert proof.status == ProofStatus.FAILED and "stopped" in proof.error_message
    # The dead run's late progress cannot bring its proof back.
    with pytest.raises(proofs.ProofTakenOver):
        proofs._update(running, pieces_done=1)


def test_the_next_proof_started_fails_a_dead_one_first(tenant_a, settings, time_machine):
    time_machine.move_to("2027-03-01T12:00:00Z", tick=False)
    campaign = campaign_with(tenant_a.client)
    add_recipient(campaign, 1)
    stuck = proofs.start_proof(campaign=campaign)
    Proof.objects.filter(pk=stuck.pk).update(status=ProofStatus.RUNNING, heartbeat_at=timezone.now())
    time_machine.move_to(timezone.now() + timedelta(seconds=settings.PROOF_TIMEOUT_SECONDS + 1), tick=False)
    fresh = proofs.start_proof(campaign=campaign)
    stuck.refresh_from_db()
    assert stuck.status == ProofStatus.FAILED and (fresh.version, fresh.status) == (2, ProofStatus.PENDING)
