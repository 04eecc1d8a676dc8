"""Print-ready export for the mail vendor, streamed: recipients are read with a server-side cursor
and written out row by row, so a million-piece campaign never sits in memory."""

import csv
import io
import zipfile

import segno
from django.http import StreamingHttpResponse

from mobul.exceptions import DomainError

from .models import Recipient
from .tokens import format_short_code

BASE_COLUMNS = ["recipient_id", "first_name", "last_name", "company", "address1", "address2", "city", "state",
                "postal_code", "country", "short_code", "purl", "qr_url"]
EXPORT_FORMATS = ("csv", "zip")
CHUNK_BYTES = 65536
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Sink:
    """A write-only file whose contents are taken out chunk by chunk."""

    def __init__(self):
        self.buffer = io.BytesIO()

    def write(self, data):
        return self.buffer.write(data)

    def flush(self):
        pass

    def take(self):
        data = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return data


def qr_url(recipient):
    return f"{recipient.purl}?via=qr"


def merge_values(recipient, *, campaign_name):
    """What each merge field of a recipient's piece says: the standard fields, `qr_url`, then the recipient's
    custom fields (which never shadow a standard one). The print file and the rendered pieces both read this."""
    standard = {
        "first_name": recipient.first_name, "last_name": recipient.last_name, "full_name": recipient.full_name,
        "company": recipient.company, "address1": recipient.address1, "address2": recipient.address2,
        "city": recipient.city, "state": recipient.state, "postal_code": recipient.postal_code,
        "country": recipient.country, "phone": recipient.phone, "email": recipient.email, "purl": recipient.purl,
        "short_code": format_short_code(recipient.short_code), "campaign_name": campaign_name,
    }
    custom = {key: "" if value is None else str(value) for key, value in recipient.custom_fields.items()}
    return {**custom, **standard, "qr_url": qr_url(recipient)}


def qr_svg(recipient):
    return segno.make(qr_url(recipient), error="m").svg_inline(scale=4)


def _custom_columns(campaign):
    # Custom merge fields vary by import; the first rows tell which ones the campaign uses.
    keys = set()
    for fields in Recipient.objects.filter(campaign=campaign).values_list("custom_fields", flat=True)[:1000]:
        keys.update(fields)
    return sorted(keys)


def _row(recipient, custom_columns, campaign_name):
    values = merge_values(recipient, campaign_name=campaign_name)
    return [recipient.pk, *[values[column] for column in BASE_COLUMNS[1:]],
            *[values.get(key, "") for key in custom_columns]]


def _recipients(campaign):
    return Recipient.objects.filter(campaign=campaign).order_by("pk").iterator(chunk_size=2000)


def spreadsheet_safe(value):
    """`value` as a spreadsheet shows it, never runs it: text that would start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return f"'{value}"
    return value


def csv_chunks(rows):
    """CSV bytes of an iterable of rows, in chunks of about CHUNK_BYTES: memory stays flat whatever the row count."""
    text = io.StringIO()
    writer = csv.writer(text)
    for row in rows:
        writer.writerow(row)
        if text.tell() > CHUNK_BYTES:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()


def csv_download(rows, filename):
    """A streamed CSV attachment of `rows` (header first), each text cell made spreadsheet-safe: for people
    opening it in Excel. The print file is not: its vendor's software prints what it reads."""
    safe = ([spreadsheet_safe(value) for value in row] for row in rows)
    response = StreamingHttpResponse(csv_chunks(safe), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_rows(campaign, inline_qr):
    custom = _custom_columns(campaign)
    yield BASE_COLUMNS + custom + (["qr_svg"] if inline_qr else [])
    for recipient in _recipients(campaign):
        yield _row(recipient, custom, campaign.name) + ([qr_svg(recipient)] if inline_qr else [])


def _zip_stream(campaign):
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("recipients.csv", "w", force_zip64=True) as entry:
            for chunk in csv_chunks(_csv_rows(campaign, inline_qr=False)):
                entry.write(chunk)
                yield sink.take()
        for recipient in _recipients(campaign):
            archive.writestr(f"qr/{recipient.short_code}.svg", qr_svg(recipient))
            if sink.buffer.tell() > 65536:
                yield sink.take()
    yield sink.take()


def export_response(campaign, export_format):
    if export_format not in EXPORT_FORMATS:
        raise DomainError(f"Unknown export output {export_format!r}; use csv or zip.", field="output",
                          code="invalid_format")
    name = f"campaign-{campaign.pk}-print"
    if export_format == "zip":
        response = StreamingHttpResponse(_zip_stream(campaign), content_type="application/zip")
    else:
        response = StreamingHttpResponse(csv_chunks(_csv_rows(campaign, inline_qr=True)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}.{export_format}"'
    return response
