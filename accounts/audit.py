"""Staff changes made through the Django admin land in the audit log like every other change.

The admin writes a LogEntry for each add, change and delete; each becomes an AuditLog row unless a
domain service already audited that object in the same request (admin forms that save through one)."""

import json

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models.signals import post_save
from django.dispatch import receiver

from mobul.middleware import audited_in_this_request

from .access import client_id_of
from .choices import AuditAction
from .services import record_audit

ACTIONS = {ADDITION: AuditAction.CREATE, CHANGE: AuditAction.UPDATE, DELETION: AuditAction.DELETE}
def _changed_fields(entry):
    try:
        messages = json.loads(entry.change_message or "[]")
    except ValueError:
        return []
    return sorted({field for message in messages for field in message.get("changed", {}).get("fields", [])})


@receiver(post_save, sender=LogEntry, dispatch_uid="accounts.audit_admin_change")
def audit_admin_change(sender, instance, created, **kwargs):
    if not created or instance.action_flag not in ACTIONS:
        return
    model = instance.content_type.model_class()
    object_type = model._meta.label if model is not None else instance.content_type.model
    audited = audited_in_this_request()
    object_id = str(instance.object_id)
    if audited is not None and (object_type, object_id) in audited:
        return
    obj = model._base_manager.filter(pk=object_id).first() if model is not None else None
    changes = {"fields": _changed_fields(instance)} if instance.action_flag == CHANGE else {}
    record_audit(action=ACTIONS[instance.action_flag], obj=obj, object_type=object_type,
                 object_id=object_id, client_id=client_id_of(obj) if obj is not None else None,
                 actor=instance.user, changes=changes)
