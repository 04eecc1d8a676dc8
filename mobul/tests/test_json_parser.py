import io
import json

import pytest
from rest_framework.exceptions import ParseError

from mobul.parsers import JSONParser


def parse(body, charset=None):
    context = {"encoding": charset} if charset else {}
    return JSONParser().parse(io.BytesIO(body), "application/json", context)


@pytest.mark.parametrize("text", [
    '{"big": 123456789012345678901234567890, "small": -9223372036854775809, "zero": -0}',
    '{"floats": [0.1, 1e308, -2.5e-320, 1E2, 3.0], "flags": [true, false, null]}',
    '{"text": "caf\\u00e9 \\ud83d\\ude00 \\"quoted\\" \\\\ back \\n", "raw": "naïve 😀"}',
    '{"same": 1, "same": 2, "nested": {"a": [[], {}, [{"b": []}]]}}',
    '  [1, "two", {"three": 3}]  ',
])
def test_values_are_the_standard_librarys(text):
    assert parse(text.encode()) == json.loads(text)


def test_unpaired_surrogate_escapes_are_read_as_the_standard_library_reads_them():
    assert parse(b'{"half": "\\ud800", "low": "\\udfff x"}') == {"half": "\ud800", "low": "\udfff x"}


def test_other_charsets_are_decoded():
    assert parse('{"name": "Zoë"}'.encode("latin-1"), charset="latin-1") == {"name": "Zoë"}


@pytest.mark.parametrize(("body", "message"), [
    (b'{"x": NaN}', "NaN"),
    (b'{"x": -Infinity}', "Infinity"),
    (b'{"x": 1e999}', "1e999"),
    (b'{"x": [-1E400]}', "-1E400"),
    (b'{"x": 1,}', "line 1 column 9"),
    (b'{"x": ', "line 1 column 7"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"), (b"[" * 5000, "nested too deeply"),
    (b'\xff{}', "utf-8"), (b'{"x": "\xff"}', "utf-8"), (b'{"\xed\xa0\x80": 1}', "utf-8"),
])
def test_what_is_not_json_or_not_a_finite_number_is_refused_saying_what(body, message):
    with pytest.raises(ParseError) as refused:
        parse(body)
    assert message in str(refused.value.detail)
