"""Forms of the messaging pages: they parse what a person typed; the services decide the rules
(an empty or too long message, a closed question) and their errors come back on these forms.

Every form that sends carries a hidden `client_msg_id`, made fresh each time the form is
rendered: the same form posted twice (a double click, a resubmitted POST) names the same id,
and `message_send` / `query_create` store it once.
"""

from __future__ import annotations

import uuid

from django import forms

from accounts.views.profile import AccessibleForm
from messaging.models import QueryStatus
from messaging.services.conversations import MAX_BODY

SUBJECT_MAX = 200


def new_client_msg_id() -> str:
    return str(uuid.uuid4())


def _body(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=MAX_BODY,
        error_messages={"required": "Write something before sending."},
        widget=forms.Textarea(attrs={"class": "input", "rows": 3}),
    )


class _Sending(AccessibleForm):
    # A callable initial: a new id each time an unbound form renders. A form shown again
    # after an error keeps the posted id, which stored nothing. Not required: a post without
    # one (an old page, a hand-made form) is sent under a new id, as a first send.
    client_msg_id = forms.CharField(max_length=64, required=False, initial=new_client_msg_id, widget=forms.HiddenInput)

    def clean_client_msg_id(self) -> str:
        return self.cleaned_data.get("client_msg_id") or new_client_msg_id()


class MessageForm(_Sending):
    body = _body("Message")

    field_order = ["body", "client_msg_id"]


class QueryForm(_Sending):
    subject = forms.CharField(
        label="Subject",
        max_length=SUBJECT_MAX,
        help_text="A few words, for example “Question about my bill”.",
        error_messages={"required": "Give your question a subject."},
        widget=forms.TextInput(attrs={"class": "input", "autocomplete": "off"}),
    )
    body = _body("Message")

    field_order = ["subject", "body", "client_msg_id"]


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=QueryStatus.choices)
