"""Domain errors (shared/errors.py) answered by `shared.http.translated`: the status the
service gives the error's class, the documented error body, and a 500 for a class the
service gave no status."""
from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared.errors import DomainError, InvalidInput, error_body
from shared.http import errors_middleware, translated


class Refused(DomainError):
    code = "refused"
    message = "This cannot be done."


class RefusedForNow(Refused):
    """Named nowhere in the statuses: takes its base's."""


class Unmapped(DomainError):
    code = "unmapped"


STATUSES = {Refused: 409, InvalidInput: 422}


async def _answers(error: Exception) -> tuple[int, dict]:
    @translated(STATUSES)
    async def route(_: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[errors_middleware])
    app.router.add_get("/x", route)
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/x")
        return r.status, await r.json()


async def test_a_domain_error_is_answered_with_its_class_status_code_and_message():
    assert await _answers(Refused()) == (409, {"error": {
        "code": "refused", "message": "This cannot be done.", "fields": {}}})


async def test_a_subclass_takes_its_nearest_base_status_and_keeps_its_own_words():
    status, body = await _answers(RefusedForNow("Not today.", retry_after_s=60))
    assert status == 409
    assert body == {"error": {"code": "refused", "message": "Not today.", "fields": {},
                              "retry_after_s": 60}}


async def test_fields_and_a_code_given_when_raised_are_in_the_answer():
    status, body = await _answers(InvalidInput(fields={"email": "is required"}))
    assert status == 422
    assert body == {"error": {"code": "invalid_input", "message": "Some fields are not valid.",
                              "fields": {"email": "is required"}}}
    assert (await _answers(Refused("Taken.", code="username_taken")))[1]["error"]["code"] == \
        "username_taken"


async def test_an_error_without_a_status_is_a_defect_answered_500_without_its_words():
    status, body = await _answers(Unmapped("internal words"))
    assert status == 500
    assert body["error"]["code"] == "internal_error"
    assert "internal words" not in str(body)


def test_the_error_body_is_the_documented_shape():
    assert error_body("c", "m") == {"error": {"code": "c", "message": "m", "fields": {}}}
    assert Refused(fields={"a": "b"}, reason="r").body() == {
        "error": {"code": "refused", "message": "This cannot be done.", "fields": {"a": "b"},
                  "reason": "r"}}
