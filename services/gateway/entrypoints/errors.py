"""The gateway's use cases' expected failures as answers: each domain error class gets its
status here, a service's refusal (`Refused`) keeps the status the service gave it. Both the
API and the portal pages see them as `ApiError`s: a route that handles a refusal itself
catches `REFUSALS` and reads `as_api_error(...)`; any other reaches `translate_middleware`."""
from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from services.gateway.adapters.upstream import Refused
from services.gateway.service_layer import errors
from shared.errors import DomainError, InvalidInput
from shared.http import ApiError, Statuses, status_of

STATUSES: Statuses = {
    errors.NotFound: 404, errors.NoMethod: 404, errors.CaptchaExpired: 404,
    errors.LookupExpired: 401, errors.AccountNotReady: 409, errors.AmountChanged: 409,
    errors.CreditNotRecorded: 409,
    errors.CaptchaRequired: 422, errors.CaptchaInvalid: 422, InvalidInput: 422,
    errors.Unavailable: 503,
}

# What a route catches where it answers a refusal in its own way (a form's messages, say).
REFUSALS: tuple[type[Exception], ...] = (ApiError, DomainError)


def as_api_error(exc: Exception) -> ApiError:
    """The refusal as answered: an `ApiError` as it is, a domain error with its status. A
    domain error without a status is a defect: it is raised again (and answered 500)."""
    if isinstance(exc, ApiError):
        return exc
    assert isinstance(exc, DomainError), exc
    status = exc.status if isinstance(exc, Refused) else status_of(exc, STATUSES)
    if status is None:
        raise exc
    return ApiError(status, exc.code, exc.message, exc.fields, **exc.extra)


@web.middleware
async def translate_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A domain error no route handled, as the `ApiError` the outer middlewares answer (JSON
    for the API, an error page for the portal)."""
    try:
        return await handler(request)
    except DomainError as exc:
        raise as_api_error(exc) from None
