from django.urls import path

from .views import CampaignAnalyticsView, EventsView

urlpatterns = [
    path("events/", EventsView.as_view(), name="events"),
    path("campaigns/<int:pk>/analytics/", CampaignAnalyticsView.as_view(), name="campaign-analytics"),
]
