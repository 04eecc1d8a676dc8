from django.urls import path

from . import views

app_name = "calltracking"

urlpatterns = [
    path("agent/", views.agent_calls, name="agent_calls"),
    path("agent/<int:pk>/", views.agent_call, name="agent_call"),
    path("agent/<int:pk>/recording/", views.agent_recording, name="agent_recording"),
    path("recordings/<str:token>/", views.recording_file, name="recording_file"),
]
