from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and tenancy"

    def ready(self):
        from . import audit, schema  # noqa: F401  admin changes to the audit log; the API key scheme in OpenAPI
