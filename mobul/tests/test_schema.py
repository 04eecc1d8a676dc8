"""The published OpenAPI schema documents the API's one error shape wherever an operation can answer with it, and
says what the server requires of its inputs."""

import re

import pytest
import yaml
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
    # A cursor the list did not issue is a 400 (DRF answered 404): a cursor list without ids in its path has no 404.
    assert _statuses(schema, "/api/v1/call-sessions/", "get") == {"200", "400", "401", "403", "429"}


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


def test_the_schema_is_yaml_unless_json_is_asked_for(client):
    default = client.get("/api/v1/schema/")
    assert default["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(default.content)["openapi"].startswith("3.")
    for asked in ({"data": {"format": "json"}}, {"HTTP_ACCEPT": "application/json"}):
        answer = client.get("/api/v1/schema/", **asked)
        assert answer.status_code == 200
        assert re.fullmatch(r"application/(vnd\.oai\.openapi\+)?json", answer["Content-Type"].split(";")[0])
        assert answer.json()["paths"] == yaml.safe_load(default.content)["paths"]


def _parameter(schema, path, method, name):
    (parameter,) = [p for p in schema["paths"][path][method]["parameters"] if p["name"] == name]
    return parameter


def test_time_ranges_say_the_formats_the_server_reads(schema):
    for name in ("from", "to"):
        events = _parameter(schema, "/api/v1/events/", "get", name)
        assert events["required"] is True and events["schema"] == {"type": "string", "format": "date-time"}
        analytics = _parameter(schema, "/api/v1/campaigns/{id}/analytics/", "get", name)
        assert analytics["schema"] == {"type": "string", "format": "date"} and "YYYY-MM-DD" in analytics["description"]
    assert "93 days" in _parameter(schema, "/api/v1/events/", "get", "to")["description"]


@pytest.mark.parametrize(("key", "accepted"), [
    ("2f1c7d0e-5b1a-4c3e-9d2f-8a6b4c2e1f00", True), ("a", True), ("x" * 255, True), ("with spaces ~!", True),
    ("x" * 256, False), ("tab\tkey", False), ("clé", False),
])
def test_the_idempotency_key_schema_is_what_the_server_accepts(schema, key_client, key, accepted):
    header = _parameter(schema, "/api/v1/templates/", "post", "Idempotency-Key")["schema"]
    documented = header["minLength"] <= len(key) <= header["maxLength"] and re.fullmatch(header["pattern"], key)
    assert bool(documented) is accepted

    response = key_client.post("/api/v1/templates/", {"name": "Postcard", "size": "4x6"},
                               HTTP_IDEMPOTENCY_KEY=key)
    refused = response.status_code == 400 and response.json()["error"]["code"] == "invalid_idempotency_key"
    assert refused is not accepted, response.content


def test_an_event_batch_holds_one_to_a_thousand_events_in_the_schema_and_on_the_server(schema, key_client):
    batch = schema["components"]["schemas"]["EventBatchRequest"]["properties"]["events"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 1000)
    for size in (0, 1001):
        events = [{"campaign": 1, "event_type": "purl_viewed"}] * size
        response = key_client.post("/api/v1/events/", {"events": events})
        assert response.status_code == 400, size
        assert response.json()["error"]["field"] == "events"


def test_every_id_an_input_names_is_documented_as_the_callers_own(schema):
    described = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    described.append((path, parameter["name"], parameter["description"]))
                    assert "another client's is a 404" in parameter["description"], (path, parameter)
                elif parameter["in"] == "query" and parameter["schema"].get("type") == "integer" and (
                        parameter["name"] not in ("page", "page_size")):
                    described.append((path, parameter["name"], parameter["description"]))
                    assert "your own" in parameter["description"], (path, method, parameter)
    for name, component in schema["components"]["schemas"].items():
        for field, property_ in component.get("properties", {}).items():
            if name.endswith("Request") and property_.get("type") == "integer" and field in (
                    "client", "campaign", "template", "gift_card_pool", "recipient"):
                described.append((name, field, property_["description"]))
                assert "your own" in property_["description"] or "that campaign" in property_["description"], (
                    name, field)
    assert len(described) > 60


@pytest.mark.parametrize("path", ["/api/v1/campaigns/", "/api/v1/gift-cards/"])
def test_page_size_is_a_whole_number_from_one_in_the_schema_and_on_the_server(schema, key_client, path):
    assert _parameter(schema, path, "get", "page_size")["schema"] == {"type": "integer", "minimum": 1}
    for value in ("", "null", "0", "000", "-1", "1.5", "abc", "\u0663", " 5"):
        response = key_client.get(path, {"page_size": value})
        assert response.status_code == 400, (value, response.content)
        assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (
            "invalid_page_size", "page_size")
    for value in ("1", "05", "1000", "9" * 5000):
        assert key_client.get(path, {"page_size": value}).status_code == 200, value


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_api_url_answers_the_json_error_shape(client, settings, debug):
    settings.DEBUG = debug
    for url in ("/api/v1/nothing-here/", "/api/v2/", "/api/"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "field": None}}
    # A URL missing its slash is still sent to the right one, and the site's own pages stay HTML.
    assert client.get("/api/v1/campaigns").headers["Location"] == "/api/v1/campaigns/"
    page = client.get("/nothing-here/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
