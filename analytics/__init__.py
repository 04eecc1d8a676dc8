def record_event(**kwargs):
    """The one door every app uses to record an event; see `analytics.services.record_event`.

    Imports the service on first call, so importing `analytics` never loads models (apps import it at
    module level, before the app registry is ready).
    """
    from .services import record_event as record

    return record(**kwargs)
