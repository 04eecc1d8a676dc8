"""OpenAPI postprocessing: what every operation shares, stated once."""

from .idempotency import HEADER, MAX_KEY_LENGTH


def document_idempotency_key(result, generator, request, public):
    """Every POST accepts an Idempotency-Key header (see mobul.idempotency)."""
    parameter = {
        "in": "header", "name": HEADER, "required": False,
        "description": "Any unique string (a UUID): a retry with the same key and body gets the first response "
                       "back instead of doing the work twice. Kept 24 hours; reusing a key for a different "
                       "request is a 409.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    }
    for operations in result.get("paths", {}).values():
        if "post" in operations:
            operations["post"].setdefault("parameters", []).append(parameter)
    return result
