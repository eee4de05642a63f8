"""Small forms of the MFA, sessions and staff pages (parsing only; services decide)."""

from __future__ import annotations

from django import forms


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        error_messages={"required": "Enter the code."},
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=500, strip=True, error_messages={"required": "Give a reason."})


class UnlockAddressForm(forms.Form):
    ip = forms.GenericIPAddressField(label="IP address", error_messages={"invalid": "Enter a valid IP address."})
