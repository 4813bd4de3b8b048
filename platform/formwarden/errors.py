"""Domain errors raised below the web layer; web/errors.py maps them to HTTP answers."""


class DomainError(Exception):
    """Base class: `code` is stable for API clients, `field` names the offending field."""

    status = 400
    code = "error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, details=None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        self.details = details or []

    def as_dict(self) -> dict:
        body: dict = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["errors"] = self.details
        return body


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PreconditionRequired(DomainError):
    status = 428
    code = "precondition_required"


class Invalid(DomainError):
    """A submission failed validation; `details` lists {field, code, message} per problem."""

    status = 422
    code = "invalid"


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class RateLimited(DomainError):
    """Too much of something in too short a time (uploads, say); try again after `retry_after` seconds."""

    status = 429
    code = "rate_limited"
    retry_after = 60


class Unavailable(DomainError):
    """Something the request needs is missing on the server side (a plugin, a service)."""

    status = 503
