"""Pages of the messaging app, under /messages/ (the sockets are in telemed/routing.py)."""

from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("inbox/", views.shared_inbox, name="shared_inbox"),
    path("ask/", views.ask, name="ask"),
    path("care-team/", views.care_team_open, name="care_team"),
    path("<int:pk>/", views.conversation, name="conversation"),
    path("<int:pk>/send/", views.send, name="send"),
    path("<int:pk>/retract/<int:seq>/", views.retract, name="retract"),
    path("<int:pk>/claim/", views.claim, name="claim"),
    path("<int:pk>/status/", views.status, name="status"),
]
