"""The published OpenAPI schema documents the API's one error shape wherever an operation can answer with it."""

import pytest
from openapi_schema_validator import OAS30Validator

pytestmark = pytest.mark.django_db

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def schema(client):
    return client.get("/api/v1/schema/", {"format": "json"}).json()


def _statuses(schema, path, method):
    return set(schema["paths"][path][method]["responses"])


def test_each_operation_documents_the_errors_it_can_answer_with(schema):
    # Found by the API fuzz test: only the success status was documented, so every error was "undocumented".
    assert _statuses(schema, "/api/v1/campaigns/", "get") == {"200", "400", "401", "403", "404", "429"}
    assert _statuses(schema, "/api/v1/campaigns/", "post") == {"201", "400", "401", "403", "409", "429", "503"}
    assert _statuses(schema, "/api/v1/campaigns/{id}/", "get") == {"200", "401", "403", "404", "429"}
    assert _statuses(schema, "/api/v1/templates/{id}/", "delete") == {"204", "401", "403", "404", "409", "429",
                                                                       "503"}
    assert _statuses(schema, "/api/v1/me/", "get") == {"200", "401", "403", "429"}
    # Cursor pages answer a cursor they did not issue with 404, as DRF does.
    assert "404" in _statuses(schema, "/api/v1/call-sessions/", "get")


def test_every_error_response_is_the_one_shape_and_429_says_when_to_retry(schema):
    errors = [(path, method, status, response) for path, item in schema["paths"].items()
              for method, operation in item.items() for status, response in operation["responses"].items()
              if status >= "400"]
    assert len(errors) > 100
    for path, method, status, response in errors:
        assert response["content"] == {"application/json": {"schema": ERROR_REF}}, (path, method, status)
        assert response["description"], (path, method, status)
        if status == "429":
            assert response["headers"]["Retry-After"]["required"] is True, (path, method)


def test_every_answer_may_carry_the_rate_limit_headers(schema):
    for item in schema["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response["headers"])


def test_the_documented_error_shape_is_what_the_api_answers(schema, key_client, api_client):
    validator = OAS30Validator({**ERROR_REF, "components": schema["components"]})
    bodies = [
        key_client.post("/api/v1/campaigns/", {"name": ""}).json(),  # 400, with details
        key_client.get("/api/v1/campaigns/999999999/").json(),  # 404
        key_client.get("/api/v1/campaigns/", {"page": 99}).json(),  # 404 from the paginator
        api_client.get("/api/v1/campaigns/").json(),  # 401
    ]
    assert "details" in bodies[0]["error"]
    for body in bodies:
        validator.validate(body)
    assert not validator.is_valid({"error": {"code": "invalid", "message": "Nope."}})  # `field` is always there
