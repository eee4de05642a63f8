from django.urls import path

from appointments.views import appointments as views
from appointments.views import booking, calendar, schedule

app_name = "appointments"
urlpatterns = [
    path("", views.appointment_list, name="list"),
    path("<int:appointment_id>/", views.appointment_detail, name="detail"),
    path("<int:appointment_id>/cancel/", views.appointment_cancel_view, name="cancel"),
    path("<int:appointment_id>/reschedule/", views.appointment_reschedule_view, name="reschedule"),
    path("<int:appointment_id>/transition/", schedule.appointment_transition_view, name="transition"),
    path("book/", booking.book_provider, name="book"),
    path("book/<int:provider_id>/", booking.book_type, name="book_type"),
    path("book/<int:provider_id>/<int:type_id>/", booking.book_slot, name="book_slot"),
    path("book/<int:provider_id>/<int:type_id>/details/", booking.book_details, name="book_details"),
    path("schedule/day/", schedule.day_view, name="day"),
    path("schedule/week/", schedule.week_view, name="week"),
    path("front-desk/", schedule.front_desk, name="front_desk"),
    path("waitlist/join/", views.waitlist_join_view, name="waitlist_join"),
    path("waitlist/<int:entry_id>/leave/", views.waitlist_leave_view, name="waitlist_leave"),
    path("waitlist/offers/<int:offer_id>/", views.waitlist_offer, name="waitlist_offer"),
    path("<int:appointment_id>/ics/", calendar.appointment_ics_download, name="ics"),
    path("calendar/", calendar.calendar_settings, name="calendar"),
    # Public: the token is the credential (calendar apps send no session cookie).
    path("calendar/feed/<slug:token>.ics", calendar.calendar_feed, name="feed"),
]
