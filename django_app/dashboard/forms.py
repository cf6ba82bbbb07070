from django import forms

from dashboard.models import INTERVAL_CHOICES, RANGE_CHOICES


class PreferenceForm(forms.Form):
    default_days = forms.TypedChoiceField(choices=RANGE_CHOICES, coerce=int, label="Default time range")
    default_interval = forms.ChoiceField(choices=INTERVAL_CHOICES, label="Default chart interval")
