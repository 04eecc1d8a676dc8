from mobul.exceptions import Conflict, DomainError


class TemplateError(DomainError):
    """The template cannot be rendered as it is (e.g. its HTML swallows what follows it)."""

    code = "invalid_template"
    default_message = "The template cannot be rendered."


class ProofRefused(Conflict):
    """The campaign cannot have a proof as it is (no template, no recipients)."""

    code = "proof_refused"
