from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible


@deconstructible
class MaxFileSizeValidator:
    """Refuses an uploaded file over `limit_bytes`: images are read whole to be measured, served and rendered."""

    def __init__(self, limit_bytes):
        self.limit_bytes = limit_bytes

    def __call__(self, file):
        if file.size > self.limit_bytes:
            raise ValidationError(
                f"The file is {file.size / 1_048_576:.1f} MB; the limit is {self.limit_bytes / 1_048_576:.0f} MB.",
                code="file_too_large")

    def __eq__(self, other):
        return isinstance(other, MaxFileSizeValidator) and other.limit_bytes == self.limit_bytes
