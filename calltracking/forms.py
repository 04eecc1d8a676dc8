from django import forms

from .choices import Disposition


class FindRecipientForm(forms.Form):
    query = forms.CharField(max_length=40, label="Phone number or printed code",
                            help_text="The code on the mail piece (e.g. ABCDE-FGHJK) or the number the caller gives.")


class DispositionForm(forms.Form):
    disposition = forms.ChoiceField(choices=Disposition.choices, required=False, label="Outcome of the call")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
