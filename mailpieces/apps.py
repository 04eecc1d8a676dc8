from django.apps import AppConfig


class MailpiecesConfig(AppConfig):
    name = "mailpieces"
    verbose_name = "Mail pieces"
