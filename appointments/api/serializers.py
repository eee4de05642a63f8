"""Shapes shared by the appointments endpoints: input fields that parse, output that renders.

No rules live here (those are the services'): a serializer says what a time or a date range
looks like, never whether it may be booked.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from appointments.models import Appointment, Modality, WaitlistEntry, WaitlistOffer

REASON_MAX_LENGTH = 1000


# --- input fields ---------------------------------------------------------------------------


class InstantField(serializers.DateTimeField):
    """An ISO 8601 instant that carries its UTC offset: a naive time would be guessed in some
    zone, and a slot guessed in the wrong zone is an appointment at the wrong hour."""

    default_error_messages = {"naive": "Give the time with its UTC offset, e.g. 2026-11-23T09:00:00+01:00."}

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        return super().to_internal_value(value)


@extend_schema_field({"type": "string", "example": "Europe/Paris"})
class TimeZoneField(serializers.CharField):
    """An IANA time zone name, as a ZoneInfo."""

    default_error_messages = {"unknown": "Unknown time zone {value!r}: give an IANA name such as Europe/Paris."}

    def to_internal_value(self, data) -> zoneinfo.ZoneInfo:
        # Validators run on the ZoneInfo returned here, so the length is checked by hand.
        name = super().to_internal_value(data)
        try:
            if len(name) <= 64:
                return zoneinfo.ZoneInfo(name)
        # A directory such as "Europe" raises IsADirectoryError (an OSError).
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
        self.fail("unknown", value=name)

    def to_representation(self, value) -> str:
        return str(value)


class DateRangeSerializer(serializers.Serializer):
    """`from` and `to` (dates, inclusive) in the time zone `tz`. `from` is a Python keyword,
    so the two fields are added in get_fields()."""

    tz = TimeZoneField(required=False, help_text="IANA time zone the dates are in; the clinic's by default.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False, help_text="First day, inclusive (YYYY-MM-DD).")
        fields["to"] = serializers.DateField(required=False, help_text="Last day, inclusive (YYYY-MM-DD).")
        return fields

    def validate(self, attrs):
        first, last = attrs.get("from"), attrs.get("to")
        if first is not None and last is not None and first > last:
            raise serializers.ValidationError({"to": ["The last day comes before the first."]})
        return attrs


def day_bounds(first: dt.date, last: dt.date, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[midnight of `first`, midnight after `last`) in `zone`, as aware datetimes."""
    start = dt.datetime.combine(first, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start, end


# --- output ---------------------------------------------------------------------------------


class SlotSerializer(serializers.Serializer):
    """A free slot (SlotsApi builds these as plain dicts; this is their documented shape)."""

    class Meta:
        ref_name = "Slot"

    provider = serializers.IntegerField()
    type = serializers.IntegerField()
    starts_at = serializers.DateTimeField(help_text="ISO 8601 with the offset of the answer's `time_zone`.")
    ends_at = serializers.DateTimeField()


class PartySerializer(serializers.Serializer):
    class Meta:
        ref_name = "AppointmentParty"

    id = serializers.IntegerField()
    name = serializers.CharField(source="full_name")


class AppointmentTypeBriefSerializer(serializers.Serializer):
    class Meta:
        ref_name = "AppointmentTypeBrief"

    id = serializers.IntegerField()
    name = serializers.CharField()
    modality = serializers.ChoiceField(choices=Modality.choices)


class AppointmentLinksSerializer(serializers.Serializer):
    class Meta:
        ref_name = "AppointmentLinks"

    self = serializers.URLField()
    ics = serializers.URLField(help_text="The appointment as an iCalendar file.")


class AppointmentSerializer(serializers.Serializer):
    """One appointment. `reason` is present only for those who may read it: the patient, their
    proxy, the appointment's provider, and (one appointment at a time) staff who may see the
    chart. Context: `request`, and `reason_visible`: a function of the appointment."""

    class Meta:
        ref_name = "Appointment"

    id = serializers.IntegerField()
    patient = PartySerializer()
    provider = PartySerializer()
    type = AppointmentTypeBriefSerializer(source="appointment_type")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Appointment.Status.choices)
    reason = serializers.CharField(required=False, help_text="Only for those who may read it (see above).")
    links = serializers.SerializerMethodField()

    @extend_schema_field(AppointmentLinksSerializer)
    def get_links(self, appointment: Appointment) -> dict:
        request = self.context["request"]
        return {
            "self": request.build_absolute_uri(reverse("api:appointment_detail", args=[appointment.pk])),
            "ics": request.build_absolute_uri(reverse("api:appointment_ics", args=[appointment.pk])),
        }

    def to_representation(self, appointment: Appointment) -> dict:
        data = super().to_representation(appointment)
        if not self.context["reason_visible"](appointment):
            data.pop("reason", None)
        return data


class WaitlistEntrySerializer(serializers.Serializer):
    class Meta:
        ref_name = "WaitlistEntry"

    id = serializers.IntegerField()
    patient = PartySerializer()
    provider = PartySerializer()
    type = AppointmentTypeBriefSerializer(source="appointment_type")
    earliest_date = serializers.DateField()
    latest_date = serializers.DateField()
    status = serializers.ChoiceField(choices=WaitlistEntry.Status.choices)
    created_at = serializers.DateTimeField()


class WaitlistOfferSerializer(serializers.Serializer):
    class Meta:
        ref_name = "WaitlistOffer"

    id = serializers.IntegerField()
    entry = serializers.IntegerField(source="entry_id")
    patient = PartySerializer(source="entry.patient")
    provider = PartySerializer()
    type = AppointmentTypeBriefSerializer(source="appointment_type")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=WaitlistOffer.Status.choices)
    expires_at = serializers.DateTimeField(help_text="The slot is held for the patient until then.")
    appointment = serializers.IntegerField(
        source="appointment_id", allow_null=True, help_text="The appointment booked by accepting, if any."
    )
