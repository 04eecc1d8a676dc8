from django.core.validators import RegexValidator
from django.db import models

from accounts.models import Client

ASSET_NAME = RegexValidator(r"^[a-z0-9][a-z0-9_.-]*$", "Lower-case letters, digits, dots, dashes and underscores.")


class TemplateAsset(models.Model):
    """An image a client uploads for its templates, which reach it as `asset:NAME` (their own client's only)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="template_assets", db_index=False)
    name = models.CharField(max_length=100, validators=[ASSET_NAME])
    image = models.ImageField(upload_to="template-assets/%Y/%m/", width_field="width_px", height_field="height_px")
    width_px = models.PositiveIntegerField(editable=False)
    height_px = models.PositiveIntegerField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "template_assets"
        ordering = ["client", "name"]
        constraints = [models.UniqueConstraint(fields=["client", "name"], name="template_assets_client_name")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # A file given to a new asset by `image.save()` (not by a form) has not been measured yet.
        if self.width_px is None and self.image:
            self._meta.get_field("image").update_dimension_fields(self, force=True)
        super().save(*args, **kwargs)
