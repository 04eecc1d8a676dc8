import secrets

from django.db import transaction
from django.utils import timezone

from mobul.http import client_ip
from mobul.middleware import audited_in_this_request, current_client_ip, current_request_id

from .access import request_actor
from .authentication import API_KEY_PREFIX
from .choices import AuditAction
from .models import ApiKey, AuditLog, hash_api_key


def record_audit(*, action, obj=None, object_type=None, object_id="", client=None, client_id=None, changes=None,
                 actor=None, api_key=None, ip=None, request=None):
    """Appends one audit row. Given a request, the actor, API key and IP come from it."""
    if request is not None:
        user, key = request_actor(request)
        actor, api_key = actor or user, api_key or key
        ip = ip or client_ip(request) or None
    if obj is not None:
        object_type = object_type or obj._meta.label
        object_id = object_id or str(obj.pk)
    if client is not None:
        client_id = client.pk
    elif client_id is None and api_key is not None:
        client_id = api_key.client_id
    audited = audited_in_this_request()
    if audited is not None:
        audited.add((object_type, object_id))
    return AuditLog.objects.create(
        action=action,
        object_type=object_type or "",
        object_id=object_id,
        object_repr=str(obj)[:200] if obj is not None else "",
        client_id=client_id,
        changes=changes or {},
        actor=actor,
        api_key=api_key,
        ip=ip or current_client_ip(),
        request_id=current_request_id() if current_request_id() != "-" else "",
    )


@transaction.atomic
def create_api_key(*, client, name, scopes, created_by=None, request=None):
    """Creates a key and returns (api_key, raw_key). The raw key is shown once and never stored."""
    scopes = sorted(set(scopes))
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(client=client, name=name, prefix=prefix, key_hash=hash_api_key(raw_key), scopes=scopes,
                     created_by=created_by)
    api_key.full_clean()
    api_key.save()
    record_audit(action=AuditAction.CREATE, obj=api_key, client=client, actor=created_by, request=request,
                 changes={"name": name, "scopes": scopes, "prefix": prefix})
    return api_key, raw_key


@transaction.atomic
def revoke_api_key(*, api_key, revoked_by=None, request=None):
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        record_audit(action=AuditAction.REVOKE, obj=locked, client=locked.client, actor=revoked_by, request=request)
    api_key.revoked_at = locked.revoked_at
    return locked

