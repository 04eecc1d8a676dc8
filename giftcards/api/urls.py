from django.urls import path
from rest_framework.routers import DefaultRouter

from .views import GiftCardPoolViewSet, GiftCardViewSet, RedeemView

router = DefaultRouter()
router.register("gift-card-pools", GiftCardPoolViewSet, basename="gift-card-pool")
router.register("gift-cards", GiftCardViewSet, basename="gift-card")

urlpatterns = [path("redeem/", RedeemView.as_view(), name="redeem"), *router.urls]
