"""The messaging API under /api/v1/."""

from django.urls import path

from messaging.api import views

urlpatterns = [
    # --- conversations ---
    path("conversations/", views.ConversationsApi.as_view(), name="messaging_conversations"),
    path("conversations/care-team/", views.CareTeamConversationApi.as_view(), name="messaging_care_team"),
    path("conversations/queries/", views.QueryCreateApi.as_view(), name="messaging_query_create"),
    path("conversations/<int:conversation_id>/", views.ConversationApi.as_view(), name="messaging_conversation"),
    # --- messages and receipts ---
    path("conversations/<int:conversation_id>/messages/", views.MessagesApi.as_view(), name="messaging_messages"),
    path(
        "conversations/<int:conversation_id>/messages/<int:seq>/retract/",
        views.MessageRetractApi.as_view(),
        name="messaging_message_retract",
    ),
    path("conversations/<int:conversation_id>/read/", views.ReadApi.as_view(), name="messaging_read"),
    # --- the clinic's shared inbox ---
    path("inbox/", views.InboxApi.as_view(), name="messaging_inbox"),
    path("conversations/<int:conversation_id>/claim/", views.QueryClaimApi.as_view(), name="messaging_query_claim"),
    path("conversations/<int:conversation_id>/status/", views.QueryStatusApi.as_view(), name="messaging_query_status"),
]
