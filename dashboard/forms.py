from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError

from accounts.choices import CLIENT_ROLES, ApiKeyScope, Role
from analytics.selectors import range_refusal
from calltracking.choices import CallStatus
from calltracking.selectors import e164_or_blank
from campaigns.choices import CLOSED_STATUSES, CampaignStatus, ImportErrorPolicy, RecipientStatus
from campaigns.imports import CUSTOM, FIELD_LABELS, IGNORE, normalize_header, suggest_mapping
from campaigns.models import Campaign, MailTemplate
from giftcards.models import GiftCardPool
from mobul.exceptions import DomainError
from webhooks.choices import EventType as WebhookEventType


def add_service_error(form, error):
    """Shows what a domain service refused on the form: at the field it names, else at the top."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    elif isinstance(error, ValidationError):
        form.add_error(None, error.messages)
    elif isinstance(error, DomainError):
        form.add_error(error.field if error.field in form.fields else None, error.message)
    else:
        raise TypeError(f"not a service error: {error!r}")


class DateInput(forms.DateInput):
    input_type = "date"


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    offer = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                            help_text="What the recipient gets, shown on their personal page.")
    template = forms.ModelChoiceField(queryset=MailTemplate.objects.none(), required=False,
                                      empty_label="No template yet", label="Mail template")
    gift_card_pool = forms.ModelChoiceField(queryset=GiftCardPool.objects.none(), required=False,
                                            empty_label="No reward", label="Gift-card pool")
    mail_date = forms.DateField(widget=DateInput, required=False, help_text="The day the pieces go in the mail.")
    cost = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False,
                              help_text="Total cost, for cost per response.")

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = MailTemplate.objects.filter(client=client).order_by("name", "pk")
        self.fields["gift_card_pool"].queryset = GiftCardPool.objects.filter(client=client).order_by("name", "pk")

    @staticmethod
    def initial_for(campaign):
        return {name: getattr(campaign, name) for name in CampaignForm.base_fields}


class CampaignFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Name contains")
    status = forms.ChoiceField(choices=[("", "Any status"), *CampaignStatus.choices], required=False)
    mail_date_from = forms.DateField(widget=DateInput, required=False, label="Mailing from")
    mail_date_to = forms.DateField(widget=DateInput, required=False, label="Mailing to")

    def clean(self):
        data = super().clean()
        start, end = data.get("mail_date_from"), data.get("mail_date_to")
        if start and end and start > end:
            raise ValidationError("The start of the mailing range is after its end.")
        return data


class AnalyticsPeriodForm(forms.Form):
    """A campaign's analytics over days of one's choosing (?from=...&to=..., as the API takes them)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword: the fields are declared by name.
        self.fields["from"] = forms.DateField(widget=DateInput, label="From")
        self.fields["to"] = forms.DateField(widget=DateInput, label="To")

    def clean(self):
        data = super().clean()
        if data.get("from") and data.get("to"):
            refusal = range_refusal(data["from"], data["to"])
            if refusal:
                raise ValidationError(refusal)
        return data


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=CampaignStatus.choices)
    reason = forms.CharField(max_length=500, required=False)


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8 CSV with a header row.",
                           widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))
    on_error = forms.ChoiceField(choices=ImportErrorPolicy.choices, initial=ImportErrorPolicy.REJECT,
                                 widget=forms.RadioSelect, label="If some rows are invalid")


class ColumnMappingForm(forms.Form):
    """Step 2 of an import: what each column of the staged file is (fields column_0, column_1, ...), pre-selected
    as campaigns.imports recognises its header. The import service checks the mapping as a whole."""

    def __init__(self, *args, staged, **kwargs):
        super().__init__(*args, **kwargs)
        self.width = len(staged.header)
        fields = list(FIELD_LABELS.items())
        for position, (name, target) in enumerate(zip(staged.header, suggest_mapping(staged.header))):
            key = normalize_header(name)
            custom = [(CUSTOM, f"Merge field “{key}”")] if key else []
            field = forms.ChoiceField(choices=[*fields, *custom, (IGNORE, "Ignore this column")], initial=target,
                                      label=name.strip() or f"Column {position + 1} (no name)")
            field.samples = [row[position] for row in staged.samples if position < len(row) and row[position]]
            self.fields[f"column_{position}"] = field

    def mapping(self):
        return [self.cleaned_data[f"column_{position}"] for position in range(self.width)]


class AssignForm(forms.Form):
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.none(), empty_label="Choose a campaign",
                                      help_text="Every recipient of this campaign without a card gets one. "
                                                "You see what it takes before anything is assigned.")
    # Set by the preview's button: without it the form only asks for the preview.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["campaign"]
        # Any campaign of the client is looked up, so that a completed or cancelled one posted anyway gets the
        # service's reason rather than "not a valid choice"; only those that can still receive cards are offered.
        field.queryset = Campaign.objects.filter(client=client).order_by("-created_at", "-pk")
        field.choices = [("", field.empty_label)] + [
            (campaign.pk, field.label_from_instance(campaign))
            for campaign in field.queryset.exclude(status__in=CLOSED_STATUSES)
        ]


class RecipientSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search",
                        help_text="Name, phone, email, printed code or PURL token.")
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.none(), required=False, empty_label="All campaigns")

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.filter(client=client).order_by("-created_at", "-pk")


class RecipientListForm(forms.Form):
    """A campaign's recipient list: which ones, in which order, from where (the keyset of the page before)."""

    SORTS = [("name", "Name, A to Z"), ("-name", "Name, Z to A"), ("-created", "Newest first"),
             ("created", "Oldest first"), ("status", "Status")]

    status = forms.ChoiceField(choices=[("", "Any status"), *RecipientStatus.choices], required=False)
    sort = forms.ChoiceField(choices=SORTS, required=False, label="Order")
    after = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False, widget=forms.HiddenInput)

    def page_options(self):
        """recipient_page's arguments: the defaults when the form is not bound."""
        data = self.cleaned_data if self.is_bound else {}
        sort = data.get("sort") or "name"
        return {"status": data.get("status", ""), "sort": sort.lstrip("-"), "descending": sort.startswith("-"),
                "after": data.get("after")}


class CallerSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Find a caller",
                        help_text="Their phone number, in any format, or their name.")


class CallFilterForm(forms.Form):
    """The call log's filters, in words; `as_filter_data` speaks the API filter set's parameters."""

    campaign = forms.ModelChoiceField(queryset=Campaign.objects.none(), required=False, empty_label="All campaigns")
    status = forms.ChoiceField(choices=[("", "Any status"), *CallStatus.choices], required=False)
    matched = forms.ChoiceField(choices=[("", "Matched or not"), ("true", "Matched to a recipient"),
                                         ("false", "Not matched")], required=False, label="Recipient")
    caller = forms.CharField(required=False, max_length=40, label="Caller's number")
    started_from = forms.DateField(widget=DateInput, required=False, label="From")
    started_to = forms.DateField(widget=DateInput, required=False, label="To")

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.filter(client=client).order_by("-created_at", "-pk")

    def clean_caller(self):
        caller = self.cleaned_data["caller"].strip()
        if caller and not e164_or_blank(caller):
            raise ValidationError("Enter a phone number, e.g. (617) 555-0134 or +16175550134.")
        return caller

    def as_filter_data(self):
        data = self.cleaned_data
        filters = {"caller": data["caller"], "matched": data["matched"]}
        if data["campaign"]:
            filters["campaign"] = data["campaign"].pk
        if data["status"]:
            filters["status"] = [data["status"]]
        if data["started_from"]:
            filters["call_started_at_after"] = data["started_from"].isoformat()
        if data["started_to"]:
            filters["call_started_at_before"] = (data["started_to"] + timedelta(days=1)).isoformat()
        return {name: value for name, value in filters.items() if value}


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. \"CRM sync\".")
    scopes = forms.MultipleChoiceField(choices=ApiKeyScope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[ApiKeyScope.READ],
                                       help_text="Read lets it see data; write lets it change campaigns, "
                                                 "gift cards and calls.")


def role_choices(roles):
    return [(role, Role(role).label) for role in roles]


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, help_text="They get an email with a link to choose a password.")
    full_name = forms.CharField(max_length=200, required=False, label="Name",
                                help_text="Optional; used for a new account.")
    role = forms.ChoiceField(choices=role_choices(CLIENT_ROLES), initial=Role.CLIENT_MEMBER)

    def __init__(self, *args, roles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(roles)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=role_choices(CLIENT_ROLES))


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(max_length=2000, label="URL", help_text="An https:// address on the public internet.",
                          widget=forms.TextInput(attrs={"autocomplete": "url", "inputmode": "url"}))
    description = forms.CharField(max_length=200, required=False, help_text="What receives them, e.g. \"CRM\".")
    event_types = forms.MultipleChoiceField(choices=WebhookEventType.choices, widget=forms.CheckboxSelectMultiple,
                                            label="Events to send")


class WebhookEndpointEditForm(WebhookEndpointForm):
    is_enabled = forms.BooleanField(required=False, label="Enabled: send events to this endpoint")
