from rest_framework.routers import DefaultRouter

from .views import WebhookEndpointViewSet, WebhookMessageViewSet

router = DefaultRouter()
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-messages", WebhookMessageViewSet, basename="webhook-message")

urlpatterns = router.urls
