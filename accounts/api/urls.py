from django.urls import path
from rest_framework.routers import DefaultRouter

from .views import ClientViewSet, MeView

router = DefaultRouter(trailing_slash=True)
router.register("clients", ClientViewSet, basename="client")

urlpatterns = [path("me/", MeView.as_view(), name="me"), *router.urls]
