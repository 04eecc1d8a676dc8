"""Recipient CSV imports at COPY speed.

The file is streamed: each row is validated in Python and written straight into `recipients` with
PostgreSQL COPY while the server maintains the indexes on the other core. Everything happens in
one transaction holding the campaign's row lock, so a failure at any point leaves nothing behind
and two imports into one campaign cannot race. Duplicates (within the file and against the
campaign) are removed set-based before commit and reported with the rest of the row errors.
"""

import csv
import io
import itertools
import json
import logging
import tempfile
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, connection, transaction

from .choices import EDITABLE_STATUSES, ImportErrorPolicy, ImportStatus, RecipientStatus
from .exceptions import CampaignLocked, ImportFileRejected
from .jobs import ImportTakenOver, ProgressReporter, finish
from .models import Campaign
from .normalize import collapse, dedupe_hash, normalize_email, normalize_phone
from .tokens import new_redemption_token, new_short_code

logger = logging.getLogger(__name__)

COLUMN_ALIASES = {
    "first_name": ["first_name", "firstname", "first", "given_name", "fname", "forename"],
    "last_name": ["last_name", "lastname", "last", "surname", "family_name", "lname"],
    "company": ["company", "company_name", "business", "business_name", "organization", "organisation"],
    "address1": ["address1", "address", "address_1", "address_line_1", "address_line1", "street", "street_address",
                 "street_address_1", "addr1"],
    "address2": ["address2", "address_2", "address_line_2", "apt", "suite", "unit", "addr2"],
    "city": ["city", "town"],
    "state": ["state", "province", "region", "st", "state_province"],
    "postal_code": ["postal_code", "zip", "zipcode", "zip_code", "postcode", "postal", "zip_postal_code"],
    "country": ["country", "country_code"],
    "phone": ["phone", "phone_number", "telephone", "tel", "mobile", "cell", "mobile_phone", "cell_phone",
              "mobile_number"],
    "email": ["email", "email_address", "e_mail"],
    "external_id": ["external_id", "customer_id", "record_id", "client_id", "id"],
}
ALIAS_TO_FIELD = {alias: name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}
# What each field is called on the mapping screen.
FIELD_LABELS = {
    "first_name": "First name", "last_name": "Last name", "company": "Company", "address1": "Address line 1",
    "address2": "Address line 2", "city": "City", "state": "State", "postal_code": "ZIP / postal code",
    "country": "Country", "phone": "Phone", "email": "Email", "external_id": "Your id for the person",
}
# Mapping targets besides the fields: the column is left out, or kept as a merge field named after its header.
IGNORE, CUSTOM = "ignore", "custom"
MAX_COLUMNS = len(COLUMN_ALIASES) + 100
SAMPLE_ROWS = 3
FIRST_ERRORS = 20
REQUIRED_COLUMNS = ("address1", "city", "postal_code")
MAX_LENGTHS = {
    "first_name": 100, "last_name": 100, "company": 200, "address1": 200, "address2": 200, "city": 100,
    "state": 100, "postal_code": 20, "external_id": 100,
}
MAX_CUSTOM_COLUMNS = 50
MAX_CUSTOM_VALUE_LENGTH = 1000
MAX_REPORTED_ERRORS = 100_000
PROGRESS_EVERY_ROWS = 20_000
SNIFF_BYTES = 64 * 1024
# A collision of a random token or short code aborts the COPY; retrying with new codes fixes it.
ATTEMPTS_ON_CODE_COLLISION = 3

COPY_COLUMNS = (
    "campaign_id", "first_name", "last_name", "company", "address1", "address2", "city", "state",
    "postal_code", "country", "phone", "email", "external_id", "custom_fields", "redemption_token",
    "short_code", "dedupe_hash", "status", "import_job_id", "import_row",
)


def normalize_header(name):
    return "_".join(name.strip().lower().replace("-", " ").replace(".", " ").split())


@dataclass
class ColumnMap:
    """Where each known field and each custom column sits in a row."""

    positions: dict
    custom: list  # [(position, key)]
    width: int


def suggest_mapping(header):
    """Each column's target as recognised from its header: a field (by name or alias), else a merge field; a column
    without a name is left out."""
    return [ALIAS_TO_FIELD.get(name, CUSTOM) if name else IGNORE for name in map(normalize_header, header)]


def map_columns(header, mapping=None):
    """Where each field and merge field sits in a row, for a header and each column's target (`mapping`, one per
    column: a field, CUSTOM or IGNORE; recognised from the header when None). Refuses a mapping that imports no
    address, no name, or one field twice."""
    if not header or not any(cell.strip() for cell in header):
        raise ImportFileRejected("The file has no header row.")
    chosen = mapping is not None

    def column(position):
        # A refusal names the column of a mapping someone chose; of a header recognised as it is, the file.
        return f"column_{position}" if chosen else None

    if not chosen:
        mapping = suggest_mapping(header)
    if len(mapping) != len(header):
        raise ImportFileRejected(f"The mapping names {len(mapping)} column(s); the file has {len(header)}.",
                                 field="mapping")
    positions, custom, seen = {}, [], {}
    for position, (raw_name, target) in enumerate(zip(header, mapping)):
        name = normalize_header(raw_name)
        if target == IGNORE:
            continue
        if target == CUSTOM:
            if not name:
                raise ImportFileRejected(f"Column {position + 1} has no name to use as a merge field.",
                                         field=column(position))
            custom.append((position, name))
        elif target in COLUMN_ALIASES:
            if target in positions:
                raise ImportFileRejected(
                    f"Columns {seen[target]!r} and {raw_name.strip()!r} both mean {target}; keep one.",
                    field=column(position),
                )
            positions[target], seen[target] = position, raw_name.strip()
        else:
            raise ImportFileRejected(f"{target!r} is not a recipient field.", field=column(position))
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        raise ImportFileRejected(
            f"Missing required column(s): {', '.join(missing)}. Found: {', '.join(h.strip() for h in header)}."
        )
    if not ({"first_name", "last_name", "company"} & positions.keys()):
        raise ImportFileRejected("The file needs a name column (first_name / last_name) or a company column.")
    if len(custom) > MAX_CUSTOM_COLUMNS:
        raise ImportFileRejected(f"At most {MAX_CUSTOM_COLUMNS} extra columns are supported, found {len(custom)}.")
    return ColumnMap(positions=positions, custom=custom, width=len(header))


def sniff(uploaded_file):
    """The header row of an upload and its first SAMPLE_ROWS rows, after refusing files that cannot be a CSV."""
    size = uploaded_file.size or 0
    if size == 0:
        raise ImportFileRejected("The file is empty.")
    if size > settings.IMPORT_MAX_BYTES:
        raise ImportFileRejected(
            f"The file is {size / 1_048_576:.1f} MB; the limit is {settings.IMPORT_MAX_BYTES / 1_048_576:.0f} MB."
        )
    uploaded_file.seek(0)
    head = uploaded_file.read(SNIFF_BYTES)
    uploaded_file.seek(0)
    if b"\x00" in head:
        raise ImportFileRejected("This is not a CSV file (it contains binary data).")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A multi-byte character may be cut at the end of the sample; only earlier errors count.
        if exc.start < len(head) - 4:
            raise ImportFileRejected("The file is not UTF-8 text. Save it as CSV UTF-8 and upload it again.") from None
        text = head[: exc.start].decode("utf-8-sig")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ImportFileRejected("The file is empty.")
    try:
        header = next(csv.reader([lines[0]]))
    except csv.Error:
        raise ImportFileRejected("The first line is not a CSV header.") from None
    if len(header) > MAX_COLUMNS:
        raise ImportFileRejected(f"The file has {len(header)} columns; at most {MAX_COLUMNS} are supported.")
    # The sample may end mid-row or hold a quoted line break: a row that does not parse is not shown.
    try:
        samples = [row for row in csv.reader(lines[1:SAMPLE_ROWS + 1]) if any(row)]
    except csv.Error:
        samples = []
    return header, samples


def sniff_header(uploaded_file):
    return sniff(uploaded_file)[0]


def inspect_upload(uploaded_file, mapping=None):
    """Refuses a file that cannot be a recipient CSV, before any work is queued. Returns its ColumnMap."""
    return map_columns(sniff_header(uploaded_file), mapping)


def first_errors(job, limit=FIRST_ERRORS):
    """The first rows of a job's error report, as {row, column, reason}: what the result page shows."""
    if not job.error_report:
        return []
    with job.error_report.open("rb") as binary, io.TextIOWrapper(binary, encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        next(reader, None)
        return [{"row": row, "column": column, "reason": reason}
                for row, column, reason in itertools.islice(reader, limit)]


class ErrorReport:
    """Row errors streamed to a temporary file (never held in memory), saved to storage at the end."""

    def __init__(self):
        self.file = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["row", "column", "reason"])
        self.count = 0

    def add(self, row, column, reason):
        self.count += 1
        if self.count <= MAX_REPORTED_ERRORS:
            self.writer.writerow([row, column, reason])

    def save_to(self, job):
        if not self.count:
            return
        if self.count > MAX_REPORTED_ERRORS:
            self.writer.writerow(["", "", f"... and {self.count - MAX_REPORTED_ERRORS} more errors not listed"])
        self.file.seek(0)
        binary = io.BytesIO(self.file.read().encode("utf-8"))
        job.error_report.save(f"import-{job.pk}-errors.csv", File(binary), save=False)

    def close(self):
        self.file.close()


@dataclass
class ImportStats:
    rows_done: int = 0
    rows_written: int = 0
    rows_invalid: int = 0
    rows_duplicate: int = 0
    duplicate_rows: list = field(default_factory=list)


def count_lines(job):
    lines = 0
    with job.file.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def _row_values(row, columns, row_number, job, report):
    """The COPY tuple for one CSV row, or None after reporting why it is invalid."""
    if len(row) != columns.width:
        report.add(row_number, "", f"expected {columns.width} fields, found {len(row)}")
        return None
    positions = columns.positions
    values = {}
    valid = True
    for name, position in positions.items():
        value = row[position].strip()
        limit = MAX_LENGTHS.get(name)
        if limit and len(value) > limit:
            report.add(row_number, name, f"longer than {limit} characters")
            valid = False
        values[name] = value
    for name in REQUIRED_COLUMNS:
        if not values[name]:
            report.add(row_number, name, "required")
            valid = False
    if not (values.get("first_name") or values.get("last_name") or values.get("company")):
        report.add(row_number, "last_name", "a name or a company is required")
        valid = False
    try:
        phone = normalize_phone(values.get("phone", ""))
    except ValidationError as exc:
        report.add(row_number, "phone", exc.messages[0])
        valid, phone = False, ""
    try:
        email = normalize_email(values.get("email", ""))
    except ValidationError as exc:
        report.add(row_number, "email", exc.messages[0])
        valid, email = False, ""
    country = (values.get("country") or "US").upper()
    if len(country) != 2 or not country.isalpha():
        report.add(row_number, "country", "use a two-letter country code (US, CA, ...)")
        valid = False
    custom = {}
    for position, key in columns.custom:
        value = row[position].strip()
        if len(value) > MAX_CUSTOM_VALUE_LENGTH:
            report.add(row_number, key, f"longer than {MAX_CUSTOM_VALUE_LENGTH} characters")
            valid = False
        elif value:
            custom[key] = value
    if not valid:
        return None
    first_name, last_name = collapse(values.get("first_name")), collapse(values.get("last_name"))
    company, address1 = collapse(values.get("company")), collapse(values["address1"])
    address2, postal_code = collapse(values.get("address2")), values["postal_code"].upper()
    external_id = values.get("external_id", "")
    return (
        job.campaign_id, first_name, last_name, company, address1, address2, collapse(values["city"]),
        collapse(values.get("state")), postal_code, country, phone, email, external_id,
        json.dumps(custom) if custom else "{}", new_redemption_token(), new_short_code(),
        dedupe_hash(external_id=external_id, first_name=first_name, last_name=last_name, company=company,
                    address1=address1, address2=address2, postal_code=postal_code),
        RecipientStatus.PENDING, job.pk, row_number,
    )


def _copy_rows(job, columns, report, progress, stats, rows_total):
    strict = job.on_error == ImportErrorPolicy.REJECT
    with job.file.open("rb") as binary, io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        next(reader, None)
        # Raw psycopg COPY: wrapped so its errors surface as Django's (IntegrityError, ...).
        with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY recipients ({', '.join(COPY_COLUMNS)}) FROM STDIN"
        ) as copy:
            try:
                for row_number, row in enumerate(reader, start=2):
                    if not any(row):
                        continue
                    stats.rows_done += 1
                    values = _row_values(row, columns, row_number, job, report)
                    if values is None:
                        stats.rows_invalid += 1
                    elif not (strict and stats.rows_invalid):
                        # In reject mode the first bad row dooms the import: keep validating, stop writing.
                        copy.write_row(values)
                        stats.rows_written += 1
                    if stats.rows_done % PROGRESS_EVERY_ROWS == 0:
                        progress.report(stats.rows_done, rows_total)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ImportFileRejected(
                    f"The file could not be read past row {stats.rows_done + 1}: {exc}. Save it as CSV UTF-8."
                ) from None


_DUPLICATES_SQL = """
WITH dup_keys AS (
    SELECT dedupe_hash FROM recipients
    WHERE campaign_id = %(campaign)s AND deleted_at IS NULL
    GROUP BY dedupe_hash HAVING count(*) > 1
), ranked AS (
    SELECT r.id, r.import_job_id,
           first_value(r.id) OVER (PARTITION BY r.dedupe_hash ORDER BY r.id) AS keeper_id
    FROM recipients r JOIN dup_keys USING (dedupe_hash)
    WHERE r.campaign_id = %(campaign)s AND r.deleted_at IS NULL
)
DELETE FROM recipients d
USING ranked, recipients keeper
WHERE d.id = ranked.id AND ranked.id <> ranked.keeper_id AND ranked.import_job_id = %(job)s
  AND keeper.id = ranked.keeper_id
RETURNING d.import_row, keeper.import_job_id = %(job)s, keeper.import_row
"""


def _remove_duplicates(job, report, stats):
    with connection.cursor() as cursor:
        cursor.execute(_DUPLICATES_SQL, {"campaign": job.campaign_id, "job": job.pk})
        for row_number, same_file, first_row in sorted(cursor.fetchall()):
            stats.rows_duplicate += 1
            reason = f"duplicate of row {first_row}" if same_file else "already in this campaign"
            report.add(row_number, "", reason)


class _RejectedRows(Exception):
    def __init__(self, stats):
        super().__init__()
        self.stats = stats


def _import_once(job, columns, report, progress, rows_total):
    stats = ImportStats()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=job.campaign_id)
        if campaign.status not in EDITABLE_STATUSES:
            raise CampaignLocked()
        _copy_rows(job, columns, report, progress, stats, rows_total)
        if stats.rows_invalid and job.on_error == ImportErrorPolicy.REJECT:
            raise _RejectedRows(stats)
        _remove_duplicates(job, report, stats)
        report.save_to(job)
        finish(
            job, status=ImportStatus.COMPLETED, rows_total=stats.rows_done, rows_done=stats.rows_done,
            rows_imported=stats.rows_written - stats.rows_duplicate, rows_invalid=stats.rows_invalid,
            rows_duplicate=stats.rows_duplicate,
        )
        if job.rows_imported:
            # services imports this module.
            from .services import list_changed

            list_changed(campaign=campaign, reason=f"Import #{job.pk} added {job.rows_imported} recipient(s).",
                         actor=job.created_by, api_key=job.api_key)
    return stats


def run_recipient_import(job):
    """Processes a claimed recipient import (jobs.claim) to completion or a clear failure."""
    progress = ProgressReporter(job)
    rows_total = max(count_lines(job) - 1, 0)
    progress.report(0, rows_total)
    report = ErrorReport()
    try:
        with job.file.open("rb") as handle:
            columns = inspect_upload(File(handle), job.column_map)
        for attempt in range(1, ATTEMPTS_ON_CODE_COLLISION + 1):
            try:
                stats = _import_once(job, columns, report, progress, rows_total)
                break
            except IntegrityError as exc:
                constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "")
                if constraint not in ("idx_recipients_token", "recipients_short_code_key") or (
                    attempt == ATTEMPTS_ON_CODE_COLLISION
                ):
                    raise
                logger.warning("import %s: code collision on %s, retrying", job.pk, constraint)
                report.close()
                report = ErrorReport()
        logger.info("import %s completed: %s rows, %s imported", job.pk, stats.rows_done, job.rows_imported)
    except _RejectedRows as rejected:
        report.save_to(job)
        invalid = rejected.stats.rows_invalid
        finish(
            job, status=ImportStatus.FAILED, rows_total=rejected.stats.rows_done, rows_done=rejected.stats.rows_done,
            rows_imported=0, rows_invalid=invalid, error_message=(
                f"{invalid} invalid row(s); nothing was imported. Download the error report, fix the file "
                "and upload it again, or choose to import the valid rows only."
            ),
        )
    except (ImportFileRejected, CampaignLocked) as exc:
        finish(job, status=ImportStatus.FAILED, rows_imported=0, error_message=exc.message)
    except ImportTakenOver:
        raise
    except Exception:
        logger.exception("import %s failed", job.pk)
        finish(job, status=ImportStatus.FAILED, rows_imported=0,
                error_message="The import failed unexpectedly; nothing was imported. Support has the details.")
    finally:
        report.close()
        progress.close()
    return job
