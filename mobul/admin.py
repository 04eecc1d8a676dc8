"""Shared admin pieces: read-only records, and the accessible names Django's own widgets lack."""

from django.forms.models import BaseInlineFormSet


class ReadOnlyAdminMixin:
    """For records nobody edits by hand (logs, rollups, webhook receipts): look, filter, never write."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LabelledInlineFormSet(BaseInlineFormSet):
    """A tabular inline's cells are named by their column heading for the eye only: each field (the delete box
    too) gets its label as its accessible name (axe: label, select-name)."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        for field in form.fields.values():
            # A related field's widget is wrapped (add/change links): the wrapped one renders the input.
            getattr(field.widget, "widget", field.widget).attrs.setdefault("aria-label", field.label)
