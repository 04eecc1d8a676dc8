from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.enter_code, name="enter_code"),
    path("<str:token>", views.landing, name="landing"),
]
