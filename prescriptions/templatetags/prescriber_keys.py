"""{% prescriber_key_summary user %}: a doctor's active key fingerprint, for their profile page.

A template tag rather than context from the accounts view: accounts sits below the domain
apps and imports none of them (pyproject.toml's import-linter contract).
"""

from __future__ import annotations

from typing import Any

from django import template

from prescriptions import signing
from prescriptions.selectors import prescriber_keys_for

register = template.Library()


@register.inclusion_tag("prescriptions/keys_profile.html")
def prescriber_key_summary(user: Any) -> dict[str, str]:
    key = prescriber_keys_for(user).filter(retired_at__isnull=True).first()
    return {"fingerprint": signing.fingerprint_for_display(key.fingerprint) if key else ""}
