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
