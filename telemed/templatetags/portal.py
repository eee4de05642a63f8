"""The portal's navigation: the sections and the account menu, filtered by role and by what exists.

Sections are named by URL name, not by path, so that a later issue makes its link appear by
adding its urlpattern: until `reverse` can resolve a name, the link is not rendered (never dead).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django import template
from django.urls import NoReverseMatch, reverse

from accounts.models import Role

register = template.Library()

ANONYMOUS = "anonymous"
PROVIDERS_AND_ADMIN = frozenset({Role.DOCTOR, Role.NURSE, Role.ADMIN})
SIGNED_IN = frozenset(Role.values)
ADMIN = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Section:
    label: str
    url_name: str
    roles: frozenset[str]
    description: str = ""
    # Home and Sign in are navigation, not something to open from the home page's cards.
    card: bool = True


SECTIONS: list[Section] = [
    Section("Home", "home", frozenset({ANONYMOUS, Role.PATIENT}), card=False),
    Section("Sign in", "accounts:login", frozenset({ANONYMOUS}), card=False),
    Section("Appointments", "appointments:list", frozenset({Role.PATIENT}), "Book, join or change a visit."),
    Section("Messages", "messaging:inbox", frozenset({Role.PATIENT}), "Write to your care team and read replies."),
    Section(
        "My health",
        "records:my_health",
        frozenset({Role.PATIENT}),
        "Allergies, problems, medicines, vital signs, visit notes and documents.",
    ),
    Section(
        "Prescriptions", "prescriptions:list", frozenset({Role.PATIENT}), "Your prescriptions and refill requests."
    ),
    Section(
        "My schedule", "appointments:day", frozenset({Role.DOCTOR}), "Your day and week: check in, start, complete."
    ),
    Section(
        "Front desk",
        "appointments:front_desk",
        frozenset({Role.NURSE, Role.ADMIN}),
        "Today's appointments across providers: check-ins and no-shows.",
    ),
    Section(
        "Charts",
        "records:patients",
        frozenset({Role.DOCTOR, Role.NURSE}),
        "The charts of the patients in your care, and home readings to acknowledge.",
    ),
    Section(
        "Prescriptions",
        "prescriptions:list",
        frozenset({Role.DOCTOR}),
        "Write and sign prescriptions; answer refill requests.",
    ),
    Section(
        "Prescriptions",
        "prescriptions:list",
        frozenset({Role.NURSE}),
        "The prescriptions of the patients in your care, to read.",
    ),
    # Admins hold no health data: no inbox (the page is a 404 for them).
    Section(
        "Inbox",
        "messaging:inbox",
        frozenset({Role.DOCTOR, Role.NURSE}),
        "Your patients' messages and the clinic's shared inbox of questions.",
    ),
    Section(
        "Consultations",
        "media_relay:consultation_list",
        PROVIDERS_AND_ADMIN,
        "Video consultations and the waiting room.",
    ),
    Section(
        "Staff & accounts",
        "accounts:staff_users",
        ADMIN,
        "Find an account: deactivate it, lift a lockout, reset its two-step verification.",
    ),
    Section("Invite staff", "accounts:staff_invite", ADMIN, "Send a doctor, nurse or admin a one-time sign-up link."),
    Section("Care teams", "accounts:care_assign", ADMIN, "Assign clinicians to the patients they care for."),
    Section(
        "Emergency access",
        "accounts:breakglass_review",
        ADMIN,
        "Review every chart opened without a care relationship.",
    ),
    Section(
        "Emergency access",
        "accounts:breakglass_open",
        frozenset({Role.DOCTOR, Role.NURSE}),
        "Open a chart outside your care relationships, with a reason: audited and reviewed.",
    ),
    Section("Admin", "admin:index", ADMIN, "Users, clinic settings and the audit trail."),
]

# The signed-in user's own account, in the header next to "Sign out" (not home-page cards).
ACCOUNT_SECTIONS: list[Section] = [
    Section("Profile", "accounts:profile", SIGNED_IN, card=False),
    Section("Proxy access", "accounts:proxies", SIGNED_IN, card=False),
    Section("Security", "accounts:security", SIGNED_IN, card=False),
    Section("Active sessions", "accounts:sessions", SIGNED_IN, card=False),
]


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    description: str
    # The value of aria-current: "page" on the section's own page, "true" on a page inside it.
    current: str


def _current(url: str, path: str) -> str:
    if url == path:
        return "page"
    if url != "/" and path.startswith(url):
        return "true"
    return ""


def role_of(user) -> str:
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    return user.role


def nav_links(
    user, current_path: str = "", *, cards_only: bool = False, sections: Collection[Section] = SECTIONS
) -> list[NavLink]:
    """The sections `user` may open, in menu order, leaving out those whose page does not exist yet."""
    role = role_of(user)
    links = []
    for section in sections:
        if role not in section.roles or (cards_only and not section.card):
            continue
        try:
            url = reverse(section.url_name)
        except NoReverseMatch:
            continue
        links.append(NavLink(section.label, url, section.description, current=_current(url, current_path)))
    return links


def _request_state(context) -> tuple[object, str]:
    request = context.get("request")
    if request is None:
        return None, ""
    return getattr(request, "user", None), request.path


@register.simple_tag(takes_context=True)
def portal_nav(context) -> list[NavLink]:
    user, path = _request_state(context)
    return nav_links(user, path)


@register.simple_tag(takes_context=True)
def portal_account_nav(context) -> list[NavLink]:
    user, path = _request_state(context)
    return nav_links(user, path, sections=ACCOUNT_SECTIONS)


@register.simple_tag(takes_context=True)
def portal_sections(context) -> list[NavLink]:
    user, path = _request_state(context)
    return nav_links(user, path, cards_only=True)
