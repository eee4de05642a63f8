"""Real-time events of the appointments app: one builder per event (STYLE.md "Interfaces").

Consumers arrive with messaging; until then the events ring no one. The channel-layer `type`
`appointment.changed` maps to a consumer handler `appointment_changed`.
"""

from __future__ import annotations

from typing import Any


def appointment_changed(appointment) -> dict[str, Any]:
    """The event for any change to an appointment: enough ids for a client to re-fetch it,
    no health details (the reason never travels in an event)."""
    return {
        "type": "appointment.changed",
        "appointment_id": appointment.pk,
        "patient_id": appointment.patient_id,
        "provider_id": appointment.provider_id,
        "status": appointment.status,
        "starts_at": appointment.starts_at.isoformat(),
        "ends_at": appointment.ends_at.isoformat(),
        "updated_at": appointment.updated_at.isoformat(),
    }


def waitlist_offer_changed(offer) -> dict[str, Any]:
    """A waitlist offer was made, accepted, declined, withdrawn or expired (to the patient)."""
    return {
        "type": "waitlist.offer",
        "offer_id": offer.pk,
        "patient_id": offer.entry.patient_id,
        "provider_id": offer.provider_id,
        "status": offer.status,
        "starts_at": offer.starts_at.isoformat(),
        "expires_at": offer.expires_at.isoformat(),
    }
