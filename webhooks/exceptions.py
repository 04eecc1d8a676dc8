from mobul.exceptions import Conflict


class MessageInFlight(Conflict):
    code = "delivery_in_progress"
    default_message = "This message is being delivered right now; replay it once the attempt has finished."


class EndpointDisabled(Conflict):
    code = "endpoint_disabled"
    default_message = "The endpoint is disabled: enable it before replaying its messages."
