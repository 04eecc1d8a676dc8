from rest_framework.routers import DefaultRouter

from .views import CallSessionViewSet, TrackingNumberViewSet

router = DefaultRouter()
router.register("tracking-numbers", TrackingNumberViewSet, basename="tracking-number")
router.register("call-sessions", CallSessionViewSet, basename="call-session")

urlpatterns = router.urls
