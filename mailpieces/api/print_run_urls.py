from rest_framework.routers import DefaultRouter

from .print_runs import CampaignPrintRunViewSet, PrintRunViewSet

router = DefaultRouter()
# List and create only: POST starts a run, GET lists the campaign's runs.
router.register(r"campaigns/(?P<campaign_pk>[0-9]+)/print-run", CampaignPrintRunViewSet,
                basename="campaign-print-run")
router.register("print-runs", PrintRunViewSet, basename="print-run")

urlpatterns = router.urls
