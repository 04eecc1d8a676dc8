from mobul.exceptions import DomainError


class TemplateError(DomainError):
    """The template cannot be rendered as it is (e.g. its HTML swallows what follows it)."""

    code = "invalid_template"
    default_message = "The template cannot be rendered."
