from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.enter_code, name="enter_code"),
    path("<str:token>", views.landing, name="landing"),
    path("<str:token>/claim", views.claim, name="claim"),
    path("<str:token>/logo", views.logo, name="logo"),
]
