from django.apps import AppConfig


class MailpiecesConfig(AppConfig):
    name = "mailpieces"
    verbose_name = "Mail pieces"

    def ready(self):
        # campaigns owns the lifecycle and knows nothing of proofs: the proof rules are added to it from here.
        from .proofs import register_rules

        register_rules()
