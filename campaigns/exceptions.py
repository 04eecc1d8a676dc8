from mobul.exceptions import Conflict, DomainError


class IllegalTransition(Conflict):
    code = "illegal_transition"


class TransitionRuleViolation(Conflict):
    code = "transition_rule"


class CampaignLocked(Conflict):
    code = "campaign_locked"
    default_message = "The campaign's mailing list and template can only change while it is a draft or proofed."


class DuplicateRecipient(Conflict):
    code = "duplicate_recipient"
    default_message = "This campaign already has this recipient."


class ImportFileRejected(DomainError):
    """The uploaded file cannot be imported at all (not CSV, empty, missing columns, too big)."""

    code = "invalid_import_file"
    field = "file"
