from django.urls import path

from . import views

app_name = "calltracking"

urlpatterns = [
    path("recordings/<str:token>/", views.recording_file, name="recording_file"),
]
