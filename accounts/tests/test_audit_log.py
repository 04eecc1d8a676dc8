import pytest
from django.db import DatabaseError, connection, transaction

from accounts.choices import AuditAction
from accounts.models import AuditLog
from accounts.services import record_audit, revoke_api_key

pytestmark = pytest.mark.django_db


def test_creating_and_revoking_a_key_is_audited_without_the_secret(tenant_a):
    created = AuditLog.objects.get(object_type="accounts.ApiKey", object_id=str(tenant_a.api_key.pk),
                                   action=AuditAction.CREATE)
    assert created.client == tenant_a.client
    assert created.changes["prefix"] == tenant_a.api_key.prefix
    assert tenant_a.raw_key.split("_", 2)[2] not in str(created.changes)

    revoke_api_key(api_key=tenant_a.api_key, revoked_by=tenant_a.admin)
    revoke_api_key(api_key=tenant_a.api_key, revoked_by=tenant_a.admin)
    revocations = AuditLog.objects.filter(action=AuditAction.REVOKE, object_id=str(tenant_a.api_key.pk))
    assert [row.actor for row in revocations] == [tenant_a.admin]


def test_audit_rows_cannot_be_changed_through_the_orm(tenant_a):
    row = record_audit(action=AuditAction.UPDATE, obj=tenant_a.client, client=tenant_a.client)
    row.action = AuditAction.DELETE
    with pytest.raises(TypeError):
        row.save()
    with pytest.raises(TypeError):
        row.delete()
    with pytest.raises(TypeError):
        AuditLog.objects.filter(pk=row.pk).update(action=AuditAction.DELETE)
    with pytest.raises(TypeError):
        AuditLog.objects.filter(pk=row.pk).delete()


def test_database_refuses_updates_to_audit_rows(tenant_a):
    row = record_audit(action=AuditAction.UPDATE, obj=tenant_a.client, client=tenant_a.client)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_logs SET action = 'delete' WHERE id = %s", [row.pk])
    assert AuditLog.objects.get(pk=row.pk).action == AuditAction.UPDATE


def test_audit_rows_outlive_the_user_they_name(tenant_a):
    row = record_audit(action=AuditAction.UPDATE, obj=tenant_a.client, actor=tenant_a.member)
    member_id = tenant_a.member.pk
    tenant_a.member.delete()
    assert AuditLog.objects.get(pk=row.pk).actor_id == member_id
