import hashlib

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mobul.validators import MaxFileSizeValidator

from .choices import (
    CLIENT_ROLES,
    ORGANIZATION_ROLES,
    ApiKeyScope,
    AuditAction,
    OrganizationKind,
    Role,
)


class Organization(models.Model):
    """The platform operator, or an agency that manages clients."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=16, choices=OrganizationKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "organizations"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Client(models.Model):
    """A business that runs campaigns: the tenant every piece of client data belongs to."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="clients")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    is_active = models.BooleanField(default=True)
    # Shown on recipients' landing pages. Formats every browser shows; no SVG, which can carry script.
    logo = models.ImageField(
        upload_to="client-logos/", blank=True,
        validators=[FileExtensionValidator(["png", "jpg", "jpeg", "gif", "webp"]), MaxFileSizeValidator(2 * 1_048_576)],
        help_text="Shown on recipients' landing pages (PNG, JPEG, GIF or WebP, about 400 px wide).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "clients"
        ordering = ["name"]

    def __str__(self):
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the staff admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        db_table = "users"
        ordering = ["email"]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()


class Membership(models.Model):
    """A user's role: on an organization (platform or agency admin) or on one client."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "memberships"
        constraints = [
            models.CheckConstraint(
                name="membership_org_xor_client",
                condition=(Q(organization__isnull=False, client__isnull=True) & Q(role__in=list(ORGANIZATION_ROLES)))
                | (Q(organization__isnull=True, client__isnull=False) & Q(role__in=list(CLIENT_ROLES))),
                violation_error_message=(
                    "Platform and agency admins belong to an organization; other roles belong to one client."
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "organization"], condition=Q(organization__isnull=False), name="membership_user_org"
            ),
            models.UniqueConstraint(
                fields=["user", "client"], condition=Q(client__isnull=False), name="membership_user_client"
            ),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_role_display()} · {self.organization or self.client}"

    def clean(self):
        super().clean()
        required_kind = ORGANIZATION_ROLES.get(self.role)
        if required_kind and self.organization_id and self.organization.kind != required_kind:
            raise ValidationError(
                {"organization": f"A {self.get_role_display()} must belong to a {required_kind.label} organization."}
            )


def hash_api_key(raw_key):
    # Keys carry 256 bits of randomness, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A client's key for the REST API. Only its hash is stored; the prefix identifies it."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=16, choices=ApiKeyScope.choices), default=list)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_keys"
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self):
        return self.revoked_at is None

    def clean(self):
        super().clean()
        unknown = set(self.scopes) - set(ApiKeyScope.values)
        if unknown or not self.scopes:
            raise ValidationError({"scopes": f"Scopes must be a non-empty subset of {ApiKeyScope.values}."})


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} rows are append-only.")

    def delete(self):
        raise TypeError(f"{self.model.__name__} rows are append-only; retention purges them in batches.")


class AuditLog(models.Model):
    """Who did what to which object, from where. Append-only (a database trigger refuses UPDATE)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # History outlives what it points at: no database constraint, and nothing ever rewrites a row.
    actor = models.ForeignKey(
        User, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    client = models.ForeignKey(
        Client, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        db_table = "audit_logs"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["client", "created_at"], name="audit_logs_client_created"),
            models.Index(fields=["object_type", "object_id"], name="audit_logs_object"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Audit log rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit log rows are append-only.")
