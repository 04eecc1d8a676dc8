class DomainError(Exception):
    """A rule of the domain was broken. Each app subclasses this in its own exceptions.py.

    `code` is stable and machine-readable; `status` is the HTTP status the API answers with.
    """

    code = "domain_error"
    status = 400
    field = None
    default_message = "The request breaks a rule of the domain."

    def __init__(self, message=None, *, field=None, code=None, retry_after=None):
        self.message = message or self.default_message
        if field is not None:
            self.field = field
        if code:
            self.code = code
        self.retry_after = retry_after
        super().__init__(self.message)


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."
