from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and tenancy"

    def ready(self):
        from . import schema  # noqa: F401  registers the API key scheme with the OpenAPI generator
