import datetime as dt

import factory

from accounts.models import ProviderProfile
from appointments.models import AppointmentType, AvailabilityException, Modality, WeeklyAvailability


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppointmentType

    name = factory.Sequence(lambda n: f"Video consultation {n}")
    modality = Modality.VIDEO
    duration_minutes = 20
    buffer_before_minutes = 0
    buffer_after_minutes = 10
    minimum_notice_minutes = 60
    booking_horizon_days = 60
    cancellation_window_hours = 24


class WeeklyAvailabilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeeklyAvailability

    weekday = 0
    start_time = dt.time(9, 0)
    end_time = dt.time(12, 0)


class AvailabilityExceptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AvailabilityException

    kind = AvailabilityException.Kind.TIME_OFF


def working_week(provider, *, time_zone="Europe/Paris", start=dt.time(9, 0), end=dt.time(12, 0), weekdays=range(7)):
    """`provider` works every listed weekday from `start` to `end` in `time_zone`."""
    ProviderProfile.objects.update_or_create(user=provider, defaults={"time_zone": time_zone})
    for weekday in weekdays:
        WeeklyAvailabilityFactory(provider=provider, weekday=weekday, start_time=start, end_time=end)
