"""Print runs through the API: a campaign rendered whole into chunked PDFs in storage (a real S3-compatible server,
moto's, over HTTP), with the vendor's manifest and the pieces' preflight findings; who may start one, and when."""

import csv
import io
from datetime import timedelta

import pypdfium2
import pytest
import requests
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.choices import ApiKeyScope
from accounts.tests.factories import api_key_for
from campaigns.choices import CampaignStatus
from campaigns.models import Campaign
from campaigns.tokens import format_short_code
from mailpieces.choices import FindingKind, PrintChunkStatus, PrintRunStatus, Side
from mailpieces.models import PrintRun, PrintRunChunk
from mailpieces.print_run_tasks import render_print_run
from mailpieces.print_runs import MANIFEST_HEADER, sweep
from mailpieces.tests.factories import CLEAN_FRONT, add_recipient, campaign_with
from mobul.tests.s3 import bucket, s3, s3_endpoint  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

PIECES = 5


def approved(campaign, status=CampaignStatus.APPROVED):
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign.refresh_from_db()
    return campaign


@pytest.fixture
def campaign(tenant_a, settings):
    settings.PRINT_RUN_CHUNK_PIECES = 2
    campaign = campaign_with(tenant_a.client)
    for n in range(PIECES):
        add_recipient(campaign, n)
    return approved(campaign)


def start(api, campaign):
    return api.post(f"/api/v1/campaigns/{campaign.pk}/print-run/")


def run_to_the_end(api, campaign, django_capture_on_commit_callbacks):
    """Starts a run; the (eager) worker renders it once the request's transaction commits. Returns the run's JSON."""
    with django_capture_on_commit_callbacks(execute=True):
        response = start(api, campaign)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == PrintRunStatus.PENDING
    return api.get(f"/api/v1/print-runs/{response.json()['id']}/").json()


def download(api, file):
    response = api.get(file["url"])
    if response.status_code == 302:  # S3: a short-lived signed URL
        fetched = requests.get(response["Location"], timeout=30)
        assert fetched.status_code == 200
        return fetched.content
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def csv_rows(data):
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_a_run_stores_every_piece_once_in_pdf_files_with_the_vendors_manifest(
        key_client, campaign, s3, django_capture_on_commit_callbacks):
    run = run_to_the_end(key_client, campaign, django_capture_on_commit_callbacks)

    assert run["status"] == PrintRunStatus.COMPLETED, run
    assert (run["chunks_total"], run["chunks_done"], run["pieces_total"], run["pieces_done"],
            run["progress_percent"]) == (3, 3, PIECES, PIECES, 100)
    assert (run["findings_total"], run["pieces_with_findings"]) == (0, 0)
    prefix = f"campaign-{campaign.pk}-run-{run['id']}"
    names = [file["name"] for file in run["files"]]
    assert names == [f"{prefix}-part-0001.pdf", f"{prefix}-part-0002.pdf", f"{prefix}-part-0003.pdf",
                     f"{prefix}-manifest.csv", f"{prefix}-findings.csv"]
    stored = {item["Key"] for item in s3[0].list_objects_v2(Bucket=s3[1])["Contents"]}
    assert {f"print-runs/campaign-{campaign.pk}/run-{run['id']}/{name}" for name in names} <= stored

    pages = {}
    for file in run["files"][:3]:
        pdf = pypdfium2.PdfDocument(download(key_client, file))
        pages[file["name"]] = len(pdf)
        assert len(pdf) == 2 * file["pieces"]
        # 6×9 trim plus 0.125 in bleed on every side, in points.
        assert [round(side) for side in pdf[0].get_size()] == [(9 + 0.25) * 72, (6 + 0.25) * 72]
        pdf.close()
    assert sum(pages.values()) == 2 * PIECES

    manifest = csv_rows(download(key_client, run["files"][3]))
    recipients = list(campaign.recipients.order_by("pk"))
    assert list(manifest[0]) == MANIFEST_HEADER
    assert [int(row["recipient_id"]) for row in manifest] == [recipient.pk for recipient in recipients]
    for index, (row, recipient) in enumerate(zip(manifest, recipients)):
        in_file = index % 2
        assert row["file"] == names[index // 2]
        assert (int(row["page_front"]), int(row["page_back"])) == (2 * in_file + 1, 2 * in_file + 2)
        assert row["name"] == recipient.full_name
        assert (row["address_line_1"], row["address_line_2"], row["address_line_3"]) == (
            recipient.address1, "Boston MA 02108", "")
        assert (row["purl"], row["qr_url"]) == (recipient.purl, f"{recipient.purl}?via=qr")
        assert row["short_code"] == format_short_code(recipient.short_code)
    assert csv_rows(download(key_client, run["files"][4])) == []


def test_findings_name_the_piece_whose_merge_fails_with_its_page(
        key_client, tenant_a, settings, django_capture_on_commit_callbacks):
    settings.PRINT_RUN_CHUNK_PIECES = 2
    campaign = campaign_with(tenant_a.client, front=CLEAN_FRONT.replace("{{ qr_code }}", "{{ qr_code }} {{ tier }}"))
    recipients = [add_recipient(campaign, n, custom_fields={"tier": "gold"}) for n in range(2)]
    broken = add_recipient(campaign, 2)  # no tier: {{ tier }} prints empty
    run = run_to_the_end(key_client, approved(campaign), django_capture_on_commit_callbacks)

    assert run["status"] == PrintRunStatus.COMPLETED
    assert (run["findings_total"], run["pieces_with_findings"]) == (1, 1)
    findings = csv_rows(download(key_client, run["files"][-1]))
    assert [(row["file"], row["page"], row["recipient_id"], row["side"], row["kind"]) for row in findings] == [
        (run["files"][1]["name"], "1", str(broken.pk), Side.FRONT, FindingKind.MERGE_FIELD_UNKNOWN)]
    assert "{{ tier }}" in findings[0]["message"]
    assert len(recipients) + 1 == run["pieces_done"]


def test_a_piece_whose_qr_code_does_not_scan_is_a_finding(key_client, tenant_a, django_capture_on_commit_callbacks):
    # Shrunk to 0.2 in, the code is too small to decode from the printed page.
    campaign = campaign_with(tenant_a.client, front=CLEAN_FRONT.replace("width: 1.2in; height: 1.2in; }\n</style>",
                                                                        "width: 0.2in; height: 0.2in; }\n</style>"))
    add_recipient(campaign, 1)
    run = run_to_the_end(key_client, approved(campaign), django_capture_on_commit_callbacks)
    kinds = {row["kind"] for row in csv_rows(download(key_client, run["files"][-1]))}
    assert kinds == {FindingKind.QR_MISSING} and run["pieces_with_findings"] == 1


@pytest.mark.parametrize("status", [CampaignStatus.DRAFT, CampaignStatus.PROOFED, CampaignStatus.CANCELLED])
def test_a_campaign_not_approved_is_refused_with_a_readable_409(key_client, campaign, status):
    response = start(key_client, approved(campaign, status))

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "campaign_not_approved"
    assert error["message"].startswith(f"The campaign is {status.label.lower()}: only an approved campaign")
    assert not PrintRun.objects.exists()


@pytest.mark.parametrize("status", [CampaignStatus.SCHEDULED, CampaignStatus.MAILED, CampaignStatus.COMPLETED])
def test_a_campaign_later_than_approved_can_be_rendered(key_client, campaign, status):
    assert start(key_client, approved(campaign, status)).status_code == 202


def test_one_run_at_a_time_per_campaign(key_client, campaign, django_capture_on_commit_callbacks):
    first = start(key_client, campaign)  # its worker has not taken it yet
    second = start(key_client, campaign)

    assert second.status_code == 409
    assert second.json()["error"]["code"] == "print_run_active"
    assert f"Print run #{first.json()['id']} of this campaign is waiting for a worker" in second.json()["error"][
        "message"]
    PrintRun.objects.filter(pk=first.json()["id"]).update(status=PrintRunStatus.FAILED)
    assert start(key_client, campaign).status_code == 202  # a finished run does not block the next


def test_the_campaigns_runs_are_listed_newest_first(key_client, campaign, django_capture_on_commit_callbacks):
    older = run_to_the_end(key_client, campaign, django_capture_on_commit_callbacks)
    newer = run_to_the_end(key_client, campaign, django_capture_on_commit_callbacks)

    listed = key_client.get(f"/api/v1/campaigns/{campaign.pk}/print-run/").json()["results"]
    assert [run["id"] for run in listed] == [newer["id"], older["id"]]
    # Each run has files of its own.
    assert not {f["name"] for f in older["files"]} & {f["name"] for f in newer["files"]}


def test_a_read_only_key_may_follow_runs_but_not_start_one(api_client, tenant_a, campaign):
    _, raw = api_key_for(tenant_a.client, scopes=[ApiKeyScope.READ], name="read only")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = start(api_client, campaign)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert api_client.get(f"/api/v1/campaigns/{campaign.pk}/print-run/").status_code == 200
    assert not PrintRun.objects.exists()


def test_a_role_without_campaign_rights_cannot_start_one(tenant_a, campaign):
    agent = APIClient()
    agent.force_login(tenant_a.agent)

    assert start(agent, campaign).status_code == 403
    member = APIClient()
    member.force_login(tenant_a.member)
    assert start(member, campaign).status_code == 202


def test_another_tenants_campaign_runs_and_files_are_not_found(
        key_client, api_client, tenant_b, campaign, django_capture_on_commit_callbacks):
    run = run_to_the_end(key_client, campaign, django_capture_on_commit_callbacks)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")

    for response in (start(api_client, campaign), api_client.get(f"/api/v1/campaigns/{campaign.pk}/print-run/"),
                     api_client.get(f"/api/v1/print-runs/{run['id']}/"), api_client.get(run["files"][0]["url"])):
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert PrintRun.objects.count() == 1


def test_only_the_runs_own_files_can_be_downloaded(key_client, campaign, django_capture_on_commit_callbacks):
    run = run_to_the_end(key_client, campaign, django_capture_on_commit_callbacks)
    for name in ("../../imports/people.csv", "parts/0001-manifest.csv", ""):
        response = key_client.get(f"/api/v1/print-runs/{run['id']}/download/", {"file": name})
        assert response.status_code == 404 and response.json()["error"]["code"] == "print_file_not_found"


def test_chunks_are_fixed_by_recipient_ids_over_live_recipients(key_client, campaign,
                                                                 django_capture_on_commit_callbacks):
    recipients = list(campaign.recipients.order_by("pk"))
    type(recipients[1]).all_objects.filter(pk=recipients[1].pk).update(deleted_at=recipients[1].created_at)
    run = run_to_the_end(key_client, campaign, django_capture_on_commit_callbacks)

    chunks = list(PrintRun.objects.get(pk=run["id"]).chunks.order_by("number").values_list(
        "first_recipient_id", "last_recipient_id", "pieces", "status"))
    done = PrintChunkStatus.DONE
    assert chunks == [(recipients[0].pk, recipients[2].pk, 2, done), (recipients[3].pk, recipients[4].pk, 2, done)]
    assert run["pieces_done"] == PIECES - 1


def later(seconds):
    return timezone.now() + timedelta(seconds=seconds)


def test_the_sweeper_resumes_a_dead_run_and_gives_up_one_whose_chunk_kills_every_worker(
        key_client, campaign, settings, django_capture_on_commit_callbacks):
    settings.PRINT_RUN_MAX_ATTEMPTS = 2
    run = run_to_the_end(key_client, campaign, django_capture_on_commit_callbacks)
    chunks = PrintRunChunk.objects.filter(run_id=run["id"])
    # As a worker leaves it when killed in chunk 2 (its first attempt there): running, a heartbeat gone quiet.
    chunks.filter(number__gte=2).update(status=PrintChunkStatus.PENDING, attempts=1)
    PrintRun.objects.filter(pk=run["id"]).update(status=PrintRunStatus.RUNNING, heartbeat_at=timezone.now(),
                                                 manifest="", findings="", finished_at=None, chunks_done=1)
    assert sweep(now=later(settings.PRINT_RUN_HEARTBEAT_TIMEOUT_SECONDS - 5)) == {"requeued": 0, "failed": 0}

    with django_capture_on_commit_callbacks(execute=True):  # the worker takes the requeued message
        assert sweep(now=later(settings.PRINT_RUN_HEARTBEAT_TIMEOUT_SECONDS + 5)) == {"requeued": 1, "failed": 0}
    resumed = PrintRun.objects.get(pk=run["id"])
    assert (resumed.status, resumed.attempts, resumed.chunks_done, resumed.pieces_done) == (
        PrintRunStatus.COMPLETED, 2, 3, PIECES)
    assert list(chunks.order_by("number").values_list("attempts", flat=True)) == [1, 2, 2]

    chunks.filter(number=3).update(status=PrintChunkStatus.PENDING)
    PrintRun.objects.filter(pk=run["id"]).update(status=PrintRunStatus.RUNNING, heartbeat_at=timezone.now())
    assert sweep(now=later(settings.PRINT_RUN_HEARTBEAT_TIMEOUT_SECONDS + 5)) == {"requeued": 0, "failed": 1}
    failed = PrintRun.objects.get(pk=run["id"])
    assert failed.status == PrintRunStatus.FAILED and failed.finished_at is not None
    assert failed.error_message.startswith("A part of the run was started 2 times and its worker stopped each time")


def test_the_sweeper_queues_again_a_run_whose_message_was_lost(key_client, campaign, settings,
                                                               django_capture_on_commit_callbacks):
    run_id = start(key_client, campaign).json()["id"]  # its message never left: no commit ran the hook
    assert sweep(now=later(settings.PRINT_RUN_REQUEUE_SECONDS - 5)) == {"requeued": 0, "failed": 0}
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(now=later(settings.PRINT_RUN_REQUEUE_SECONDS + 5)) == {"requeued": 1, "failed": 0}
    assert PrintRun.objects.get(pk=run_id).status == PrintRunStatus.COMPLETED


def test_a_message_delivered_twice_renders_nothing_more(key_client, campaign, django_capture_on_commit_callbacks):
    run = run_to_the_end(key_client, campaign, django_capture_on_commit_callbacks)
    render_print_run(run["id"])
    assert PrintRun.objects.get(pk=run["id"]).attempts == 1
    assert set(PrintRunChunk.objects.filter(run_id=run["id"]).values_list("attempts", flat=True)) == {1}


def test_a_template_that_cannot_be_rendered_fails_the_run_at_once_saying_why(
        key_client, tenant_a, django_capture_on_commit_callbacks):
    campaign = campaign_with(tenant_a.client, front="<div>unclosed")
    add_recipient(campaign, 1)
    run = run_to_the_end(key_client, approved(campaign), django_capture_on_commit_callbacks)

    assert run["status"] == PrintRunStatus.FAILED and run["attempts"] == 1
    assert run["error_message"].startswith("The template cannot be rendered: The template's front HTML does not stand")
