"""Outbound webhooks: integrators are told of events instead of polling.

Domain code calls `webhooks.publish(...)` inside the transaction of the change; see `webhooks.services.publish`.
"""


def publish(**kwargs):
    """The one door domain code uses to emit a webhook event; see `webhooks.services.publish`.

    Imports the service on first call, so importing `webhooks` never loads models (apps import it at module level).
    """
    from .services import publish as publish_event

    return publish_event(**kwargs)
