from django.urls import path

from . import views

app_name = "mail_webhooks"

urlpatterns = [
    path("scans/", views.MailScansWebhook.as_view(), name="scans"),
]
