"""Shared admin pieces: read-only records, big composite-key tables, and the accessible names Django's own
widgets lack."""

import json

from django.contrib import messages
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.functional import cached_property

from .db import estimated_rows
from .exceptions import DomainError


def apply_to_each(modeladmin, request, queryset, operation, *, name=str):
    """An admin action's work: `operation(row)` for each selected row in pk order; a row the domain refuses is
    reported as `name(row)` with the reason, and the others go on. Returns what the accepted ones returned."""
    done = []
    for row in queryset.order_by("pk"):
        try:
            done.append(operation(row))
        except DomainError as error:
            modeladmin.message_user(request, f"{name(row)}: {error.message}", messages.ERROR)
    return done


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


def admin_twin(model, *, key):
    """An unmanaged model over `model`'s table with the single primary key `key`, for the admin, which refuses
    models with a composite primary key. Its fields are `model`'s own (relations without a reverse accessor); it
    must be registered with CompositeKeyAdminMixin, which finds a row by the whole composite key, not `key` alone."""
    attrs = {"__module__": model.__module__, "__str__": model.__str__}
    for field in model._meta.concrete_fields:
        if field.is_relation:
            # Not deconstructed: that needs the app registry, still loading when models.py runs this.
            attrs[field.name] = models.ForeignKey(
                field.remote_field.model, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False,
                db_index=False, null=field.null, blank=field.blank, primary_key=field.name == key)
        else:
            name, path, args, kwargs = field.deconstruct()
            attrs[name] = type(field)(*args, **{**kwargs, "primary_key": name == key})
    attrs["Meta"] = type("Meta", (), {"managed": False, "db_table": model._meta.db_table,
                                      "verbose_name": model._meta.verbose_name,
                                      "verbose_name_plural": model._meta.verbose_name_plural})
    twin = type(f"{model.__name__}Record", (models.Model,), attrs)
    twin.key_fields = tuple(field.name for field in model._meta.pk_fields)
    return twin


class CompositeKeyAdminMixin:
    """The admin of an admin_twin(): links and lookups carry every column of the real key ("id,created_at"), so
    a row is found by its whole key (for a partitioned table, in its one partition)."""

    change_form_template = "admin/composite_key_change_form.html"

    def object_key(self, obj):
        return ",".join(str(getattr(obj, name)) for name in self.model.key_fields)

    def get_changelist(self, request, **kwargs):
        admin = self

        class CompositeKeyChangeList(ChangeList):
            def url_for_result(self, result):
                opts = self.opts
                return reverse(f"admin:{opts.app_label}_{opts.model_name}_change",
                               args=(quote(admin.object_key(result)),), current_app=self.model_admin.admin_site.name)

        return CompositeKeyChangeList

    def get_object(self, request, object_id, from_field=None):
        names = self.model.key_fields
        # The last column may hold commas (an integrator's idempotency key), so it takes the rest.
        values = object_id.split(",", len(names) - 1)
        if len(values) != len(names):
            return None
        try:
            lookup = {name: self.model._meta.get_field(name).to_python(value) for name, value in zip(names, values)}
        except ValidationError:
            return None
        return self.get_queryset(request).filter(**lookup).first()


class EstimatedCountPaginator(Paginator):
    """For tables of millions of rows, where COUNT(*) reads them all: the whole table's size is estimated from the
    catalogue (mobul.db.estimated_rows); a filtered list is counted up to COUNT_LIMIT rows, and past that it is
    the planner's estimate of the filtered query."""

    COUNT_LIMIT = 10_000

    @cached_property
    def count(self):
        queryset = self.object_list.order_by()
        if not queryset.query.where:
            return estimated_rows(queryset.model._meta.db_table, using=queryset.db)
        counted = queryset[:self.COUNT_LIMIT].count()
        if counted < self.COUNT_LIMIT:
            return counted
        planned = json.loads(queryset.explain(format="json"))[0]["Plan"]["Plan Rows"]
        return max(counted, int(planned))


def as_id(text):
    """`text` as a bigint id, or None if it is not one (a word, "²", a number past the column's range)."""
    text = text.strip()
    if text.isascii() and text.isdigit() and int(text) < 2 ** 63:
        return int(text)
    return None


class IdSearchMixin:
    """A search box that is one index lookup: the term is an id, matched exactly in any of `search_fields`
    (integer columns); a term that is not an id finds nothing, rather than scanning the table or failing."""

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        found = as_id(search_term)
        if found is None:
            return queryset.none(), False
        return queryset.filter(models.Q.create([(field, found) for field in self.search_fields],
                                               connector=models.Q.OR)), False
