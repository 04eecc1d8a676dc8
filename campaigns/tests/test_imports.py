import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase

from campaigns.choices import CampaignStatus, ImportStatus
from campaigns.models import ImportJob, Recipient
from campaigns.services import start_recipient_import
from campaigns.tests.factories import CampaignFactory, csv_bytes, person

pytestmark = pytest.mark.django_db

IMPORT_URL = "/api/v1/campaigns/{}/recipients/import/"


def _upload(key_client, campaign, data, name="list.csv", **extra):
    # Runs the on-commit hook that queues the (eager) import task, as a real commit would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return key_client.post(
            IMPORT_URL.format(campaign.pk), {"file": SimpleUploadedFile(name, data, "text/csv"), **extra},
            format="multipart",
        )


def _report(job):
    job.refresh_from_db()
    if not job.error_report:
        return []
    with job.error_report.open("rb") as handle:
        return list(csv.DictReader(io.StringIO(handle.read().decode())))


@pytest.fixture
def campaign(tenant_a):
    return CampaignFactory(client=tenant_a.client)


def test_import_through_the_api_runs_and_reports_progress(key_client, campaign):
    response = _upload(key_client, campaign, csv_bytes([person(n) for n in range(1, 26)]))
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]
    status = key_client.get(f"/api/v1/imports/{job_id}/").json()
    assert status["status"] == ImportStatus.COMPLETED
    assert (status["rows_total"], status["rows_done"], status["rows_imported"]) == (25, 25, 25)
    assert status["progress_percent"] == 100
    assert status["error_report_url"] is None
    recipients = Recipient.objects.filter(campaign=campaign).order_by("import_row")
    assert recipients.count() == 25
    first = recipients.first()
    assert first.phone == "+12175550001"
    assert first.postal_code == "62701"
    assert first.import_row == 2 and first.import_job_id == job_id
    assert len(first.redemption_token) >= 22 and len(first.short_code) == 10


def test_headers_are_matched_case_insensitively_with_aliases_bom_and_quotes(key_client, campaign):
    data = csv_bytes(
        [["Ann", "O'Hara", '12 Elm St, Apt "B"', "Boston", "MA", "02108", "617-555-0134", "ANN@Example.COM",
          "Gold"]],
        header=("First Name", "SURNAME", "Street Address", "Town", "Province", "ZipCode", "Mobile", "E-Mail",
                "Tier"),
        bom=True,
    )
    assert _upload(key_client, campaign, data).status_code == 202
    recipient = Recipient.objects.get(campaign=campaign)
    assert (recipient.first_name, recipient.last_name, recipient.address1) == ("Ann", "O'Hara", '12 Elm St, Apt "B"')
    assert recipient.email == "ANN@example.com"
    assert recipient.phone == "+16175550134"
    assert recipient.custom_fields == {"tier": "Gold"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "not a CSV file"),
        ("name;city\nJosé;Köln\n".encode("latin-1"), "not UTF-8"),
        (b"first_name,last_name,city\nA,B,C\n", "Missing required column(s): address1, postal_code"),
        (b"address,city,zip\n1 Main,X,1\n", "needs a name column"),
        (b"address,street,city,zip,last_name\n", "both mean address1"),
    ],
)
def test_unusable_files_are_refused_at_upload_with_a_clear_error(key_client, campaign, data, message):
    response = _upload(key_client, campaign, data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_import_file"
    assert error["field"] == "file"
    assert message in error["message"]
    assert not ImportJob.objects.exists()


def test_files_over_the_size_limit_are_refused(key_client, campaign, settings):
    settings.IMPORT_MAX_BYTES = 100
    response = _upload(key_client, campaign, csv_bytes([person(n) for n in range(10)]))
    assert response.status_code == 400
    assert "the limit is" in response.json()["error"]["message"]


def test_invalid_rows_reject_the_whole_import_by_default_with_a_report(key_client, campaign):
    rows = [person(1), person(2, phone="12345"), person(3, email="not-an-email"), person(4, address1=""),
            ["only", "three", "fields"], person(6)]
    job = ImportJob.objects.get(pk=_upload(key_client, campaign, csv_bytes(rows)).json()["id"])
    assert job.status == ImportStatus.FAILED
    assert job.rows_invalid == 4 and job.rows_imported == 0
    assert "nothing was imported" in job.error_message
    assert not Recipient.objects.filter(campaign=campaign).exists()
    report = _report(job)
    assert [(line["row"], line["column"]) for line in report] == [
        ("3", "phone"), ("4", "email"), ("5", "address1"), ("6", "")
    ]
    assert "expected 8 fields, found 3" in report[3]["reason"]
    errors = key_client.get(f"/api/v1/imports/{job.pk}/errors/")
    assert errors.status_code == 200
    assert errors["Content-Type"] == "text/csv"
    assert b"row,column,reason" in b"".join(errors.streaming_content)


def test_skip_mode_imports_the_valid_rows(key_client, campaign):
    rows = [person(1), person(2, phone="12345"), person(3)]
    job_id = _upload(key_client, campaign, csv_bytes(rows), on_error="skip").json()["id"]
    job = ImportJob.objects.get(pk=job_id)
    assert (job.status, job.rows_imported, job.rows_invalid) == (ImportStatus.COMPLETED, 2, 1)
    assert sorted(Recipient.objects.values_list("import_row", flat=True)) == [2, 4]


def test_duplicates_in_the_file_and_against_the_campaign_are_reported_not_inserted(key_client, campaign):
    _upload(key_client, campaign, csv_bytes([person(1), person(2)]))
    rows = [person(3), person(1, phone="", email=""), person(3, phone="(217) 555-9999"), person(4)]
    job = ImportJob.objects.get(pk=_upload(key_client, campaign, csv_bytes(rows)).json()["id"])
    assert (job.status, job.rows_imported, job.rows_duplicate) == (ImportStatus.COMPLETED, 2, 2)
    assert Recipient.objects.filter(campaign=campaign).count() == 4
    assert [(line["row"], line["reason"]) for line in _report(job)] == [
        ("3", "already in this campaign"), ("4", "duplicate of row 2")
    ]


def test_an_import_that_breaks_half_way_leaves_nothing_behind(key_client, campaign):
    good = csv_bytes([person(n) for n in range(1, 3001)])
    corrupt = good + b"Zo\xff\xfe,Broken,1 Bad Rd,X,IL,60601,,\n" + csv_bytes([person(5000)])[60:]
    job = ImportJob.objects.get(pk=_upload(key_client, campaign, corrupt).json()["id"])
    assert job.status == ImportStatus.FAILED
    assert "could not be read past row" in job.error_message
    assert Recipient.all_objects.filter(campaign=campaign).count() == 0


def test_imports_are_refused_once_the_campaign_is_approved(key_client, campaign):
    campaign.status = CampaignStatus.APPROVED
    campaign.save()
    response = _upload(key_client, campaign, csv_bytes([person(1)]))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "campaign_locked"


def test_another_tenant_cannot_import_into_a_campaign(tenant_b, campaign, api_client):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    response = _upload(api_client, campaign, csv_bytes([person(1)]))
    assert response.status_code == 404
    assert not ImportJob.objects.exists()


def test_import_jobs_are_tenant_scoped(tenant_a, tenant_b, campaign, api_client):
    job = start_recipient_import(
        campaign=campaign, uploaded_file=SimpleUploadedFile("a.csv", csv_bytes([person(1)])), on_error="reject"
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant_b.raw_key}")
    assert api_client.get(f"/api/v1/imports/{job.pk}/").status_code == 404
    assert api_client.get("/api/v1/imports/").json()["results"] == []
