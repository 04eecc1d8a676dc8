"""Loading gift-card codes into a pool from a CSV, with the same job, progress and error report as
recipient imports.

Codes are encrypted as they stream in and COPY'd into a temporary table; one set-based INSERT then moves
the new ones into `gift_cards`, leaving out codes seen earlier in the file or already stored, which are
reported. It all happens in one transaction: a failure leaves no card behind.
"""

import csv
import io
import logging
from datetime import datetime

from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone

from accounts.choices import AuditAction
from accounts.services import record_audit
from campaigns.choices import ImportErrorPolicy, ImportKind, ImportStatus
from campaigns.exceptions import ImportFileRejected
from campaigns.imports import ErrorReport, count_lines, normalize_header, sniff_header
from campaigns.jobs import ImportTakenOver, ProgressReporter, finish, new_import_job
from mobul.db import sql_literal

from . import card_log
from .choices import DeliveryStatus, GiftCardAction, GiftCardStatus
from .crypto import code_hash, encrypt_code, last4, normalize_code
from .services import check_pool_level

logger = logging.getLogger(__name__)

CODE_COLUMNS = {"code", "card_code", "gift_card_code", "card_number", "number", "claim_code"}
EXPIRY_COLUMNS = {"expires_on", "expiry", "expires", "expiration", "expiration_date", "expiry_date"}
MIN_CODE_LENGTH, MAX_CODE_LENGTH = 4, 128
EXPIRY_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")
PROGRESS_EVERY_ROWS = 5_000

MOVE_NEW_CARDS_SQL = f"""
WITH ranked AS (
    SELECT *, first_value(row_number) OVER (PARTITION BY code_hash ORDER BY row_number) AS first_row
    FROM card_staging
), fresh AS (
    SELECT ranked.* FROM ranked
    WHERE row_number = first_row AND NOT EXISTS (SELECT 1 FROM gift_cards g WHERE g.code_hash = ranked.code_hash)
), inserted AS (
    INSERT INTO gift_cards (pool_id, code_encrypted, code_hash, last4, status, expires_on, import_job_id,
                            delivery_status, delivery_attempts, delivery_error, created_at)
    SELECT %(pool)s, code_encrypted, code_hash, last4, {sql_literal(GiftCardStatus.AVAILABLE)}, expires_on, %(job)s,
           {sql_literal(DeliveryStatus.NOT_SENT)}, 0, '', %(log_at)s
    FROM fresh ORDER BY row_number
    RETURNING id
)
{card_log.insert_sql(source="inserted", action=GiftCardAction.IMPORTED, from_status="",
                     to_status=GiftCardStatus.AVAILABLE, recipient="NULL")}
"""

DUPLICATES_SQL = """
SELECT s.row_number,
       first_value(s.row_number) OVER (PARTITION BY s.code_hash ORDER BY s.row_number) AS first_row,
       EXISTS (SELECT 1 FROM gift_cards g WHERE g.code_hash = s.code_hash)
FROM card_staging s ORDER BY s.row_number
"""


def map_card_columns(header):
    names = [normalize_header(name) for name in header]
    code_positions = [i for i, name in enumerate(names) if name in CODE_COLUMNS]
    if len(code_positions) != 1:
        raise ImportFileRejected("The file needs exactly one code column (code, card_code, card_number...).")
    expiry_positions = [i for i, name in enumerate(names) if name in EXPIRY_COLUMNS]
    return code_positions[0], (expiry_positions[0] if expiry_positions else None), len(header)


def _parse_expiry(value, today):
    for pattern in EXPIRY_FORMATS:
        try:
            day = datetime.strptime(value, pattern).date()
        except ValueError:
            continue
        if day < today:
            raise ValueError("the card has already expired")
        return day
    raise ValueError("write the date as YYYY-MM-DD")


def start_card_import(*, pool, uploaded_file, on_error=ImportErrorPolicy.REJECT, request=None):
    """Checks the file, stores it and queues the import. Returns the ImportJob to poll."""
    map_card_columns(sniff_header(uploaded_file))
    with transaction.atomic():
        job = new_import_job(uploaded_file=uploaded_file, name=f"pool-{pool.pk}.csv", request=request,
                             client=pool.client, pool=pool, kind=ImportKind.GIFT_CARDS, on_error=on_error)
        record_audit(action=AuditAction.CREATE, obj=job, client=pool.client, request=request,
                     changes={"file": job.original_filename, "pool": pool.pk})
    return job


def _stream_to_staging(job, columns, report, progress, rows_total):
    code_at, expiry_at, width = columns
    today = timezone.localdate()
    rows = invalid = 0
    with job.file.open("rb") as binary, io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        next(reader, None)
        with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(
            "COPY card_staging (row_number, code_encrypted, code_hash, last4, expires_on) FROM STDIN"
        ) as copy:
            try:
                for row_number, row in enumerate(reader, start=2):
                    if not any(row):
                        continue
                    rows += 1
                    if rows % PROGRESS_EVERY_ROWS == 0:
                        progress.report(rows, rows_total)
                    if len(row) != width:
                        report.add(row_number, "", f"expected {width} fields, found {len(row)}")
                        invalid += 1
                        continue
                    code = normalize_code(row[code_at])
                    if not MIN_CODE_LENGTH <= len(code) <= MAX_CODE_LENGTH or not code.isprintable():
                        report.add(row_number, "code", f"a code has {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH} "
                                                       "printable characters")
                        invalid += 1
                        continue
                    expires_on = None
                    if expiry_at is not None and row[expiry_at].strip():
                        try:
                            expires_on = _parse_expiry(row[expiry_at].strip(), today)
                        except ValueError as error:
                            report.add(row_number, "expires_on", str(error))
                            invalid += 1
                            continue
                    copy.write_row((row_number, encrypt_code(code), code_hash(code), last4(code), expires_on))
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ImportFileRejected(
                    f"The file could not be read past row {rows + 1}: {exc}. Save it as CSV UTF-8."
                ) from None
    return rows, invalid


def _report_duplicates(job, report):
    duplicates = 0
    with connection.cursor() as cursor:
        cursor.execute(DUPLICATES_SQL)
        for row_number, first_row, stored in cursor.fetchall():
            if row_number != first_row:
                report.add(row_number, "code", f"duplicate of row {first_row}")
                duplicates += 1
            elif stored:
                report.add(row_number, "code", "this code is already stored")
                duplicates += 1
    return duplicates


def run_card_import(job):
    """Processes a claimed gift-card code import (campaigns.jobs.claim) to completion or a clear failure."""
    progress = ProgressReporter(job)
    rows_total = max(count_lines(job) - 1, 0)
    progress.report(0, rows_total)
    report = ErrorReport()
    try:
        with job.file.open("rb") as handle:
            columns = map_card_columns(sniff_header(File(handle)))
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TEMPORARY TABLE card_staging (row_number integer, code_encrypted text, code_hash text,"
                    " last4 text, expires_on date) ON COMMIT DROP"
                )
            rows, invalid = _stream_to_staging(job, columns, report, progress, rows_total)
            if invalid and job.on_error == ImportErrorPolicy.REJECT:
                job.rows_total = job.rows_done = rows
                job.rows_invalid = invalid
                report.save_to(job)
                raise ImportFileRejected(
                    f"{invalid} invalid row(s); nothing was imported. Download the error report, fix the file and "
                    "upload it again, or choose to import the valid rows only."
                )
            duplicates = _report_duplicates(job, report)
            with connection.cursor() as cursor:
                cursor.execute(MOVE_NEW_CARDS_SQL, {
                    "pool": job.pool_id, "job": job.pk,
                    **card_log.params(at=timezone.now(), actor_id=job.created_by_id, api_key_id=job.api_key_id,
                                      reason=f"import {job.pk}"),
                })
                imported = cursor.rowcount
            report.save_to(job)
            finish(job, status=ImportStatus.COMPLETED, rows_total=rows, rows_done=rows, rows_imported=imported,
                   rows_invalid=invalid, rows_duplicate=duplicates)
        check_pool_level(pool_id=job.pool_id)
    except ImportFileRejected as error:
        finish(job, status=ImportStatus.FAILED, rows_total=job.rows_total, rows_done=job.rows_done, rows_imported=0,
               rows_invalid=job.rows_invalid, error_message=error.message)
    except ImportTakenOver:
        raise
    except Exception:
        logger.exception("card import %s failed", job.pk)
        finish(job, status=ImportStatus.FAILED, rows_imported=0,
               error_message="The import failed unexpectedly; nothing was imported. Support has the details.")
    finally:
        report.close()
        progress.close()
    return job
