"""Use-case failures with the HTTP status and code the internal API documents."""
from services.payments.domain.methods import InvalidInput
from shared.http import ApiError


def invalid(exc: InvalidInput) -> ApiError:
    return ApiError(422, "invalid_input", exc.message, exc.fields)


def unknown_account() -> ApiError:
    return ApiError(404, "unknown_account",
                    "We have no billing account with this number yet. If it was opened today, "
                    "please try again in a few minutes.")
