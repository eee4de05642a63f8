"""Every write of the accounts app, split by topic (STYLE.md "Layers").

Import from here: `from accounts.services import care_relationship_start`.
"""

from accounts.services.users import care_relationship_start, user_create, user_ensure

__all__ = ["care_relationship_start", "user_create", "user_ensure"]
