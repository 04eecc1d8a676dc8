from django.apps import AppConfig


class CalltrackingConfig(AppConfig):
    name = "calltracking"
    verbose_name = "Call tracking"
