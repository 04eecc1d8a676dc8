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


def qr_svg(recipient):
    return segno.make(qr_url(recipient), error="m").svg_inline(scale=4)


def _custom_columns(campaign):
    # Custom merge fields vary by import; the first rows tell which ones the campaign uses.
    keys = set()
    for fields in Recipient.objects.filter(campaign=campaign).values_list("custom_fields", flat=True)[:1000]:
        keys.update(fields)
    return sorted(keys)


def _row(recipient, custom_columns):
    return [
        recipient.pk, recipient.first_name, recipient.last_name, recipient.company, recipient.address1,
        recipient.address2, recipient.city, recipient.state, recipient.postal_code, recipient.country,
        format_short_code(recipient.short_code), recipient.purl, qr_url(recipient),
        *[recipient.custom_fields.get(key, "") for key in custom_columns],
    ]


def _recipients(campaign):
    return Recipient.objects.filter(campaign=campaign).order_by("pk").iterator(chunk_size=2000)


def _csv_stream(campaign, inline_qr):
    custom = _custom_columns(campaign)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(BASE_COLUMNS + custom + (["qr_svg"] if inline_qr else []))
    for recipient in _recipients(campaign):
        writer.writerow(_row(recipient, custom) + ([qr_svg(recipient)] if inline_qr else []))
        if text.tell() > 65536:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()


def _zip_stream(campaign):
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("recipients.csv", "w", force_zip64=True) as entry:
            for chunk in _csv_stream(campaign, inline_qr=False):
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
        response = StreamingHttpResponse(_csv_stream(campaign, inline_qr=True), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}.{export_format}"'
    return response
