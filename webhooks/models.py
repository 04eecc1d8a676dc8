import uuid

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from accounts.models import Client

from .choices import DisabledReason, EventType, MessageStatus


class WebhookEndpoint(models.Model):
    """Where a client wants to be told of events, and which ones. Its signing secret is encrypted at rest (the
    gift-card codes' Fernet keys); after a rotation the previous secret also signs until its overlap ends."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000, help_text="https:// address that receives the events.")
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=40, choices=EventType.choices), default=list,
                             help_text="The event types sent to this endpoint.")
    is_enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=16, choices=DisabledReason.choices, default=DisabledReason.NONE,
                                       blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Failed attempts since the last success, and when that streak began: the automatic disabling rule.
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    secret_encrypted = models.TextField()
    secret_last4 = models.CharField(max_length=4)
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhook_endpoints"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client"], condition=Q(is_enabled=True), name="webhook_endpoints_enabled")]
        constraints = [
            models.CheckConstraint(name="webhook_endpoint_disabled_reason",
                                   condition=Q(disabled_reason__in=DisabledReason.values)),
        ]

    def __str__(self):
        return self.description or self.url

    @property
    def secret_hint(self):
        """What is ever shown of the secret after it was handed out."""
        return f"whsec_…{self.secret_last4}"

    def clean(self):
        from .security import resolve

        errors = {}
        try:
            resolve(self.url)
        except ValidationError as error:
            errors["url"] = error.messages
        unknown = sorted(set(self.event_types) - set(EventType.values))
        if unknown:
            errors["event_types"] = [f"Unknown event type(s): {', '.join(unknown)}."]
        elif not self.event_types:
            errors["event_types"] = ["Subscribe to at least one event type."]
        if errors:
            raise ValidationError(errors)
        self.event_types = sorted(set(self.event_types))


class WebhookMessage(models.Model):
    """The outbox: one row per (event, endpoint), written in the transaction of the change that produced the event.
    `uuid` is the `webhook-id` header, the same on every attempt and replay, so receivers can drop duplicates."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="webhook_messages")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    event_id = models.UUIDField(help_text="The event's id, shared by its messages to every endpoint.")
    body = models.TextField(help_text="The JSON sent, byte for byte the same on every attempt.")
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Scheduled attempts made (replays not counted).")
    next_attempt_at = models.DateTimeField(help_text="When the next attempt is due (pending messages).")
    # A worker's hold on a delivering message; past it the worker is taken for dead and the sweeper hands it out.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When a delivery task was last queued for it; NULL when none is on its way (the sweeper then queues one).
    queued_at = models.DateTimeField(null=True, blank=True)
    replay_requested = models.BooleanField(default=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "webhook_messages"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["endpoint", "-id"], name="webhook_messages_endpoint"),
            models.Index(fields=["client", "-id"], name="webhook_messages_client"),
            models.Index(fields=["next_attempt_at"], condition=Q(status=MessageStatus.PENDING),
                         name="webhook_messages_due"),
            models.Index(fields=["endpoint", "next_attempt_at"], condition=Q(status=MessageStatus.PENDING),
                         name="webhook_messages_endpoint_due"),
            models.Index(fields=["endpoint", "lease_expires_at"], condition=Q(status=MessageStatus.DELIVERING),
                         name="webhook_messages_in_flight"),
        ]
        constraints = [
            models.CheckConstraint(name="webhook_message_status", condition=Q(status__in=MessageStatus.values)),
        ]

    def __str__(self):
        return f"msg_{self.uuid.hex} {self.event_type}"

    @property
    def webhook_id(self):
        return f"msg_{self.uuid.hex}"


class WebhookDelivery(models.Model):
    """One attempt at delivering a message: the delivery log."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="deliveries")
    attempted_at = models.DateTimeField()
    succeeded = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    response_snippet = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    is_replay = models.BooleanField(default=False)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["-attempted_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self):
        return f"{self.message} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
