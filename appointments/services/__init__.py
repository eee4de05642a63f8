"""Every write of the appointments app (split by topic; import from here)."""

from appointments.services.booking import (
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
    appointment_transition,
)
from appointments.services.calendar import calendar_feed_reset, calendar_feed_revoke, feed_token_hash
from appointments.services.waitlist import (
    waitlist_join,
    waitlist_leave,
    waitlist_offer_accept,
    waitlist_offer_decline,
    waitlist_offers_expire,
)

__all__ = [
    "appointment_book",
    "appointment_cancel",
    "appointment_reschedule",
    "appointment_transition",
    "calendar_feed_reset",
    "calendar_feed_revoke",
    "feed_token_hash",
    "waitlist_join",
    "waitlist_leave",
    "waitlist_offer_accept",
    "waitlist_offer_decline",
    "waitlist_offers_expire",
]
