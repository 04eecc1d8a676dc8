from django.urls import path

from . import webhooks

app_name = "twilio_webhooks"

urlpatterns = [
    path("voice/", webhooks.VoiceWebhook.as_view(), name="voice"),
    path("status/", webhooks.StatusWebhook.as_view(), name="status"),
    path("recording/", webhooks.RecordingWebhook.as_view(), name="recording"),
]
