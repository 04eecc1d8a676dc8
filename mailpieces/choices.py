from django.db import models


class Side(models.TextChoices):
    FRONT = "front", "Front"
    BACK = "back", "Back"


class FindingKind(models.TextChoices):
    QR_MISSING = "qr_missing", "No QR code decodes"
    QR_WRONG_URL = "qr_wrong_url", "QR code leads elsewhere"
    MERGE_FIELD_UNKNOWN = "merge_field_unknown", "Unknown merge field"
    MERGE_FIELD_EMPTY = "merge_field_empty", "Required merge field empty"
    OUTSIDE_SAFE_ZONE = "outside_safe_zone", "Text outside the safe zone"
    OVER_ADDRESS_AREA = "over_address_area", "Content over the address block or indicia"
    ADDRESS_OVERFLOW = "address_overflow", "Address does not fit its block"
    LOW_RESOLUTION_IMAGE = "low_resolution_image", "Image below 300 dpi"
    REMOTE_RESOURCE = "remote_resource", "Remote resource blocked"
    UNKNOWN_ASSET = "unknown_asset", "Asset not found"


class PrintRunStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Rendering"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


# A campaign has at most one of these at a time; the sweeper looks after them (a lost message, a dead worker).
ACTIVE_PRINT_RUN_STATUSES = [PrintRunStatus.PENDING, PrintRunStatus.RUNNING]


class PrintChunkStatus(models.TextChoices):
    PENDING = "pending", "To render"
    DONE = "done", "Stored"


class ProofStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Rendering"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


# What the proof sweeper looks after: a message may have been lost, a worker may have died.
UNFINISHED_PROOF_STATUSES = [ProofStatus.PENDING, ProofStatus.RUNNING]


class SampleReason(models.TextChoices):
    """Why a recipient's piece is in a proof: the pieces most likely to go wrong, beside an ordinary one."""

    FIRST = "first", "First recipient"
    LONGEST_NAME = "longest_name", "Longest name"
    LONGEST_ADDRESS = "longest_address", "Longest address"
    ALL_CUSTOM_FIELDS = "all_custom_fields", "Has every custom field the template uses"
