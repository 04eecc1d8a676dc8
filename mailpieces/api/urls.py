from rest_framework.routers import DefaultRouter

from .views import CampaignProofViewSet

router = DefaultRouter()
router.register(r"campaigns/(?P<campaign_pk>[0-9]+)/proofs", CampaignProofViewSet, basename="campaign-proof")

urlpatterns = router.urls
