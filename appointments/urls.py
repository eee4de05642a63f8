from django.urls import path

from appointments.views import appointments as views

app_name = "appointments"
urlpatterns = [
    path("<int:appointment_id>/", views.appointment_detail, name="detail"),
    path("waitlist/offers/<int:offer_id>/", views.waitlist_offer, name="waitlist_offer"),
]
