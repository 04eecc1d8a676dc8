from rest_framework.routers import DefaultRouter

from .views import (
    CampaignRecipientViewSet,
    CampaignViewSet,
    ImportJobViewSet,
    MailTemplateViewSet,
    RecipientViewSet,
)

router = DefaultRouter()
router.register("campaigns", CampaignViewSet, basename="campaign")
# List and create only: no detail route, so .../recipients/import/ stays the campaign's import action.
router.register(r"campaigns/(?P<campaign_pk>[0-9]+)/recipients", CampaignRecipientViewSet,
                basename="campaign-recipient")
router.register("templates", MailTemplateViewSet, basename="template")
router.register("recipients", RecipientViewSet, basename="recipient")
router.register("imports", ImportJobViewSet, basename="import")

urlpatterns = router.urls
