from rest_framework import exceptions


class InsufficientScope(exceptions.PermissionDenied):
    default_detail = "This API key's scopes do not allow this request."
    default_code = "insufficient_scope"
