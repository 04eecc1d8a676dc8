from mobul.exceptions import Conflict, DomainError, NotFound


class TemplateError(DomainError):
    """The template cannot be rendered as it is (e.g. its HTML swallows what follows it)."""

    code = "invalid_template"
    default_message = "The template cannot be rendered."


class CampaignNotPrintable(Conflict):
    code = "campaign_not_approved"
    default_message = "Only an approved campaign can be rendered for print."


class PrintRunActive(Conflict):
    code = "print_run_active"
    default_message = "A print run of this campaign is already under way."


class PrintFileNotFound(NotFound):
    code = "print_file_not_found"
    default_message = "The print run has no such file (yet)."


class ProofRefused(Conflict):
    """The campaign cannot have a proof as it is (no template, no recipients)."""

    code = "proof_refused"
