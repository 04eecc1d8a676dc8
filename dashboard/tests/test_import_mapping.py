"""A dashboard import in two steps: the upload is kept in storage, its columns are matched to fields on a page of
their own (pre-selected from the header and its aliases), then the import runs with that mapping; the result page
lists the first row errors."""

import re
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from campaigns.imports import FIRST_ERRORS
from campaigns.models import ImportJob, StagedImport
from campaigns.services import purge_staged_imports
from campaigns.tests.factories import csv_bytes

from .factories import make_active, staged_import

HEADER = ("Given Name", "Surname", "Mailing Address", "Town", "Zip Code", "Notes", "")
ROWS = [("Ann", "Lee", "1 Main St", "Springfield", "62701", "VIP", "x"),
        ("Bo", "Ray", "2 Oak Ave", "Springfield", "62702", "", "")]


def text(response):
    return response.content.decode()


def upload(client, campaign, content, name="crm-export.csv", on_error="skip"):
    response = client.post(reverse("dashboard:recipient_import", args=[campaign.pk]),
                           {"file": SimpleUploadedFile(name, content, content_type="text/csv"), "on_error": on_error})
    staged = StagedImport.objects.filter(campaign=campaign, original_filename=name).first()
    return response, staged


def selections(page):
    """{select name: the option selected} on the mapping page."""
    return dict(re.findall(r'<select name="(column_\d+)"[^>]*>.*?<option value="([^"]*)" selected>', page, re.S))


@pytest.fixture
def admin_client(signed_in, world_a):
    return signed_in(world_a.tenant.admin)


def test_unknown_headers_are_matched_on_screen_then_imported_into_those_fields(
        admin_client, world_a, django_capture_on_commit_callbacks):
    response, staged = upload(admin_client, world_a.campaign, csv_bytes(ROWS, header=HEADER))
    mapping_url = reverse("dashboard:campaign_import_mapping", args=[staged.pk])
    assert response["Location"] == mapping_url
    assert not ImportJob.objects.filter(original_filename="crm-export.csv").exists()  # nothing imported yet
    page = text(admin_client.get(mapping_url))
    # Known names and aliases are pre-selected; an unknown one would become a merge field; a blank one is left out.
    assert selections(page) == {"column_0": "first_name", "column_1": "last_name", "column_2": "custom",
                                "column_3": "city", "column_4": "postal_code", "column_5": "custom",
                                "column_6": "ignore"}
    assert '<th scope="row"><label for="id_column_2">Mailing Address</label></th>' in page
    assert "1 Main St · 2 Oak Ave" in page  # the first values beside each column
    assert re.search(r'<option value="address1">Address line 1</option>', page)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(mapping_url, {**selections(page), "column_2": "address1", "import": ""})
    job = ImportJob.objects.get(original_filename="crm-export.csv")
    assert response["Location"] == reverse("dashboard:import_progress", args=[job.pk])
    assert job.status == "completed" and job.rows_imported == 2
    assert job.column_map == ["first_name", "last_name", "address1", "city", "postal_code", "custom", "ignore"]
    ann = world_a.campaign.recipients.get(first_name="Ann")
    assert (ann.address1, ann.city, ann.postal_code, ann.custom_fields) == ("1 Main St", "Springfield", "62701",
                                                                           {"notes": "VIP"})
    # The staged file became the job's (not copied), and the staged row is gone.
    assert job.file.name == staged.file.name and default_storage.exists(job.file.name)
    assert not StagedImport.objects.filter(pk=staged.pk).exists()
    assert admin_client.get(mapping_url).status_code == 404


@pytest.mark.parametrize("changes, message, at", [
    ({"column_2": "ignore"}, "Missing required column(s): address1.", None),
    ({"column_2": "address1", "column_5": "address1"}, "Columns &#x27;Mailing Address&#x27; and &#x27;Notes&#x27; both "
     "mean address1; keep one.", "column_5"),
    ({"column_2": "address1", "column_0": "ignore", "column_1": "ignore"}, "needs a name column", None),
    ({"column_2": "redemption_token"}, "Select a valid choice.", "column_2"),
    ({"column_2": "address1", "column_6": "custom"}, "Select a valid choice.", "column_6"),
])
def test_a_mapping_that_cannot_import_is_refused_on_the_page(admin_client, world_a, changes, message, at):
    staged = upload(admin_client, world_a.campaign, csv_bytes(ROWS, header=HEADER))[1]
    url = reverse("dashboard:campaign_import_mapping", args=[staged.pk])
    response = admin_client.post(url, {**selections(text(admin_client.get(url))), **changes, "import": ""})
    page = text(response)
    assert response.status_code == 400 and message in page
    if at:
        assert re.search(rf'<p class="field-error" id="id_{at}_error" role="alert">[^<]*', page)
    assert not ImportJob.objects.filter(original_filename="crm-export.csv").exists()
    assert StagedImport.objects.filter(pk=staged.pk).exists()  # the file waits for a better mapping


def test_a_mapping_posted_without_its_columns_is_refused(admin_client, world_a):
    url = reverse("dashboard:campaign_import_mapping", args=[world_a.staged_import.pk])
    response = admin_client.post(url, {"import": ""})
    assert response.status_code == 400 and "This field is required." in text(response)


def test_discarding_the_upload_deletes_its_file(admin_client, world_a, django_capture_on_commit_callbacks):
    staged = upload(admin_client, world_a.campaign, csv_bytes(ROWS, header=HEADER))[1]
    name = staged.file.name
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("dashboard:campaign_import_mapping", args=[staged.pk]), {"discard": ""})
    assert response["Location"] == reverse("dashboard:recipient_import", args=[world_a.campaign.pk])
    assert not StagedImport.objects.filter(pk=staged.pk).exists() and not default_storage.exists(name)


def test_uploads_left_unmapped_are_purged_with_their_files(world_a, time_machine, settings,
                                                          django_capture_on_commit_callbacks):
    time_machine.move_to(timezone.now(), tick=False)
    old = staged_import(world_a.campaign, world_a.tenant.admin, name="old.csv")
    time_machine.shift(timedelta(seconds=settings.STAGED_IMPORT_MAX_AGE_SECONDS - 60))
    fresh = staged_import(world_a.campaign, world_a.tenant.admin, name="fresh.csv")
    time_machine.shift(timedelta(seconds=120))
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_staged_imports() == 2  # the world's own staged upload is as old as this one
    assert not StagedImport.objects.filter(pk__in=[old.pk, world_a.staged_import.pk]).exists()
    assert not default_storage.exists(old.file.name)
    assert StagedImport.objects.filter(pk=fresh.pk).exists() and default_storage.exists(fresh.file.name)


def test_another_tenants_upload_is_a_404_and_stays(signed_in, world_a, world_b):
    client = signed_in(world_a.tenant.admin)
    url = reverse("dashboard:campaign_import_mapping", args=[world_b.staged_import.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"discard": ""}).status_code == 404
    assert StagedImport.objects.filter(pk=world_b.staged_import.pk).exists()


def test_a_frozen_campaign_refuses_the_mapped_import(admin_client, world_a):
    make_active(world_a.campaign)
    url = reverse("dashboard:campaign_import_mapping", args=[world_a.staged_import.pk])
    response = admin_client.post(url, {**selections(text(admin_client.get(url))), "import": ""})
    assert response.status_code == 400 and "can only change while it is a draft or proofed" in text(response)


def test_the_result_page_lists_the_first_row_errors(admin_client, world_a, django_capture_on_commit_callbacks):
    rows = [("Ann", "Lee", "1 Main St", "Springfield", "62701", "", "")]
    rows += [(f"P{n}", "Bad", "", "Springfield", "62701", "", "") for n in range(FIRST_ERRORS + 5)]
    staged = upload(admin_client, world_a.campaign, csv_bytes(rows, header=HEADER))[1]
    url = reverse("dashboard:campaign_import_mapping", args=[staged.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {**selections(text(admin_client.get(url))), "column_2": "address1",
                                           "import": ""})
    page = text(admin_client.get(response["Location"]))
    errors = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>', page)
    assert errors[:2] == [("3", "address1", "required"), ("4", "address1", "required")]
    assert len(errors) == FIRST_ERRORS
    assert "The first 20 problems; the report lists them all" in page
    assert "Download the error report (CSV)" in page
