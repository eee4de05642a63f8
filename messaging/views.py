"""The messaging pages, under /messages/: the inbox, one conversation, asking the clinic a
question, and the staff's shared inbox of questions.

They work without JavaScript: a message is sent by a form POST and new ones appear on reload.
static/js/conversation.js attaches to the conversation page (its data-* attributes) and, once
/ws/conversations/<id>/ answers, streams messages, typing and receipts, sending over the socket.

Every page reaches a conversation only through `access_conversation_for_user` (participants
only; a 404, audited, for everyone else); services make every change. Each POST redirects
(PRG). A rule a service refuses comes back on the page as a form error with the service's
status (400, 409); a refusal of who may do it (403) shows the "not allowed" page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.context_processors import acting_for_patient_id
from accounts.models import Role, User
from audit.services import audit_record_denied
from messaging.forms import MessageForm, QueryForm, StatusForm
from messaging.models import ConversationKind, Message, QueryStatus
from messaging.selectors import (
    STAFF_INBOX,
    ConversationAccess,
    access_conversation_for_user,
    care_patients_for_messaging,
    conversations_for_user,
    conversations_shown,
    message_for_retraction,
    messages_before,
    read_states,
    staff_inbox_for_user,
)
from messaging.services import (
    care_conversation_ensure,
    message_retract,
    message_send,
    query_claim,
    query_create,
    query_status_set,
    read_state_advance,
)
from messaging.services.conversations import RETRACT_WINDOW
from telemed.errors import ApplicationError
from telemed.ids import positive_id
from telemed.timezones import viewer_zone

# Messages per page of a conversation; "Show earlier messages" pages back by seq.
PAGE = 50
# Rows of the shared inbox (open ones come first; a filter narrows it).
INBOX_ROWS = 100
CLINICIANS = (Role.DOCTOR, Role.NURSE)
STATUS_DONE = {
    QueryStatus.OPEN: "The question is open again.",
    QueryStatus.ANSWERED: "Marked as answered.",
    QueryStatus.CLOSED: "The question is closed.",
}


# --- What every page shares ---------------------------------------------------------------------


def messaging_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, never cached; a refusal a view did not put on a form becomes a page with its
    status (403 "not allowed", 409, 400), so bad input never becomes a 500."""

    @login_required
    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as error:
            context = {"message": error.message, "status": error.status_code}
            return render(request, "messaging/refused.html", context, status=error.status_code)

    return wrapper


def not_a_page_for(request: HttpRequest) -> Http404:
    """The 404 of a page this role has no use for (recorded, as the other apps do)."""
    audit_record_denied(actor=request.user, action="messaging.page.open", target_type="page", target_id=request.path)
    return Http404("No such page.")


def base_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"time_zone": viewer_zone(request), **extra}


def conversation_url(conversation_id: int, seq: int | None = None) -> str:
    url = reverse("messaging:conversation", args=[conversation_id])
    return f"{url}#msg-{seq}" if seq else url


def _is_clinician(user: User) -> bool:
    return user.role in CLINICIANS


def _patient_side_target(request: HttpRequest, patients: list[User]) -> User | None:
    """Whom a patient-side form writes for: the patient a proxy acts for, else the user —
    if they may message for them at all (a verified email, a grant with the messaging scope)."""
    wanted = acting_for_patient_id(request) or request.user.pk
    return next((patient for patient in patients if patient.pk == wanted), None)


def _chosen_patient(request: HttpRequest, patients: list[User]) -> User:
    """The patient a form names by id, among those the user may message for; a 404 otherwise."""
    wanted = positive_id(request.POST.get("patient"))
    patient = next((patient for patient in patients if patient.pk == wanted), None)
    if patient is None:
        audit_record_denied(
            actor=request.user,
            action="messaging.conversation.create",
            target_type="user",
            target_id=str(request.POST.get("patient", ""))[:64],
            reason="not a patient this user messages for",
        )
        raise Http404("No such patient.")
    return patient


def _access(request: HttpRequest, pk: int, action: str) -> ConversationAccess:
    """A POST's conversation: the service it calls audits what it does, not a read."""
    return access_conversation_for_user(request.user, pk, action=action, record_read=False)


# --- The inbox ------------------------------------------------------------------------------------


@messaging_page
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    """The user's conversations, newest activity first, with unread counts. The patient's side
    opens their care team or asks the clinic; clinicians see their patients' care-team
    conversations, start one, and reach the shared inbox."""
    user = request.user
    if user.role == Role.PATIENT:
        patients = care_patients_for_messaging(user)
        conversations = list(conversations_for_user(user))
        # A proxy's list names the patients they act for: recorded in those patients' logs.
        conversations_shown(user, conversations)
        context = base_context(request, conversations=conversations, target=_patient_side_target(request, patients))
        return render(request, "messaging/inbox.html", context)
    if not _is_clinician(user):
        raise not_a_page_for(request)
    conversations = list(conversations_for_user(user))
    conversations_shown(user, conversations)
    started = {conversation.patient_id for conversation in conversations}
    context = base_context(
        request,
        conversations=conversations,
        clinician=True,
        others=[patient for patient in care_patients_for_messaging(user) if patient.pk not in started],
        open_questions=staff_inbox_for_user(user, status=QueryStatus.OPEN).count(),
    )
    return render(request, "messaging/inbox.html", context)


@messaging_page
@require_POST
def care_team_open(request: HttpRequest) -> HttpResponse:
    """Open (making it on first need) a patient's conversation with their care team."""
    patient = _chosen_patient(request, care_patients_for_messaging(request.user))
    conversation = care_conversation_ensure(actor=request.user, patient=patient)
    return redirect("messaging:conversation", pk=conversation.pk)


@messaging_page
@require_http_methods(["GET", "HEAD", "POST"])
def ask(request: HttpRequest) -> HttpResponse:
    """A question to the clinic from the patient, or from a proxy for the patient they act for."""
    if request.user.role != Role.PATIENT:
        raise not_a_page_for(request)
    patients = care_patients_for_messaging(request.user)
    if request.method != "POST":
        return _ask_page(request, QueryForm(), _patient_side_target(request, patients))
    patient = _chosen_patient(request, patients)
    form = QueryForm(request.POST)
    if not form.is_valid():
        return _ask_page(request, form, patient, status=400)
    try:
        message = query_create(
            actor=request.user,
            patient=patient,
            subject=form.cleaned_data["subject"],
            body=form.cleaned_data["body"],
            client_msg_id=form.cleaned_data["client_msg_id"],
        )
    except ApplicationError as error:
        if error.status_code == 403:
            raise
        form.add_service_error(error)
        return _ask_page(request, form, patient, status=error.status_code)
    flash.success(request, "Your question was sent to the clinic. You will see the answer here.")
    return redirect("messaging:conversation", pk=message.conversation_id)


def _ask_page(request: HttpRequest, form: QueryForm, patient: User | None, *, status: int = 200) -> HttpResponse:
    return render(request, "messaging/ask.html", base_context(request, form=form, target=patient), status=status)


# --- The shared inbox -----------------------------------------------------------------------------


@messaging_page
@require_safe
def shared_inbox(request: HttpRequest) -> HttpResponse:
    """The clinic's questions for OTP-verified doctors and nurses: open first, oldest waiting
    first; `?status=` narrows it to one status."""
    if not _is_clinician(request.user):
        raise not_a_page_for(request)
    status = request.GET.get("status", "")
    if status not in QueryStatus.values:
        status = ""
    rows = staff_inbox_for_user(request.user, status=status or None)
    listed = list(rows[: INBOX_ROWS + 1])
    conversations_shown(request.user, listed[:INBOX_ROWS])
    context = base_context(
        request,
        rows=listed[:INBOX_ROWS],
        more=len(listed) > INBOX_ROWS,
        status=status,
        statuses=[("", "All"), *QueryStatus.choices],
    )
    return render(request, "messaging/shared_inbox.html", context)


# --- One conversation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One message as the conversation page shows it."""

    message: Message
    own: bool
    may_retract: bool
    retract_until: Any

    @property
    def sender_label(self) -> str:
        message = self.message
        name = str(message.sender)
        return f"{name} for {message.on_behalf_of}" if message.on_behalf_of_id else name


def _shown(access: ConversationAccess, page: list[Message]) -> list[Shown]:
    now = timezone.now()
    rows = []
    for message in page:
        own = message.sender_id == access.user.pk
        until = message.created_at + RETRACT_WINDOW
        rows.append(
            Shown(
                message=message,
                own=own,
                may_retract=own and not message.retracted_at and now < until,
                retract_until=until,
            )
        )
    return rows


def conversation_page(
    request: HttpRequest,
    access: ConversationAccess,
    *,
    form: MessageForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    """The conversation as `access.user` sees it; a refused POST renders it again with its
    form or `error` and its status."""
    conversation = access.conversation
    before = positive_id(request.GET.get("before")) if request.method == "GET" else None
    page = messages_before(conversation, before, limit=PAGE)
    if page and request.method == "GET":
        read_state_advance(access=access, read_seq=page[-1].seq)
    shown = _shown(access, page)
    own = [row for row in shown if row.own]
    last_own = own[-1].message if own else None
    others = [state for state in read_states(conversation) if state.user_id != access.user.pk]
    readers = [str(state.user) for state in others if last_own is not None and state.read_seq >= last_own.seq]
    # What the live script starts from: who has read how far, and the names it shows.
    names = {str(state.user_id): str(state.user) for state in others}
    names.update({str(row.message.sender_id): str(row.message.sender) for row in shown})
    live = {"reads": {str(state.user_id): state.read_seq for state in others}, "names": names}
    is_query = conversation.kind == ConversationKind.QUERY
    closed = is_query and conversation.status == QueryStatus.CLOSED
    may_send = not closed or access.patient_side
    if form is not None and not may_send and not error:
        # No form to put the refusal on (the question is closed to staff): say it above.
        error = " ".join(form.non_field_errors())
    staff = access.via == STAFF_INBOX
    last_shown = page[-1].seq if page else 0
    context = base_context(
        request,
        access=access,
        conversation=conversation,
        patient=conversation.patient,
        thread=shown,
        last_own=last_own,
        readers=readers,
        live=live,
        last_shown=last_shown,
        earlier=page[0].seq if page and page[0].seq > 1 else None,
        paged_back=before is not None,
        newer=before is not None and last_shown < conversation.last_seq,
        is_query=is_query,
        staff=staff,
        closed=closed,
        may_send=may_send,
        form=form or MessageForm(),
        error=error,
    )
    return render(request, "messaging/conversation.html", context, status=status)


@messaging_page
@require_safe
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    """The last 50 messages (`?before=<seq>` for earlier ones), marked read as they are shown."""
    return conversation_page(request, access_conversation_for_user(request.user, pk))


def _refused(request: HttpRequest, access: ConversationAccess, error: ApplicationError, **kwargs: Any) -> HttpResponse:
    if error.status_code == 403:
        raise error
    if "form" in kwargs:
        kwargs["form"].add_service_error(error)
    else:
        kwargs["error"] = error.message
    return conversation_page(request, access, status=error.status_code, **kwargs)


@messaging_page
@require_POST
def send(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a message; the same form posted twice (same client_msg_id) stores it once."""
    access = _access(request, pk, "messaging.message.send")
    form = MessageForm(request.POST)
    if not form.is_valid():
        return conversation_page(request, access, form=form, status=400)
    try:
        message, _created = message_send(
            access=access, client_msg_id=form.cleaned_data["client_msg_id"], body=form.cleaned_data["body"]
        )
    except ApplicationError as error:
        return _refused(request, access, error, form=form)
    return HttpResponseRedirect(conversation_url(access.conversation.pk, message.seq))


@messaging_page
@require_POST
def retract(request: HttpRequest, pk: int, seq: int) -> HttpResponse:
    """The sender takes a message back, within 5 minutes of sending it."""
    access = _access(request, pk, "messaging.message.retract")
    message = message_for_retraction(access, seq)
    try:
        message_retract(access=access, message=message)
    except ApplicationError as error:
        return _refused(request, access, error)
    flash.success(request, "Message retracted.")
    return HttpResponseRedirect(conversation_url(access.conversation.pk, message.seq))


@messaging_page
@require_POST
def claim(request: HttpRequest, pk: int) -> HttpResponse:
    """A doctor or nurse takes a question from the shared inbox."""
    access = _access(request, pk, "messaging.query.claim")
    try:
        query_claim(access=access)
    except ApplicationError as error:
        return _refused(request, access, error)
    flash.success(request, "You claimed this question.")
    return redirect("messaging:conversation", pk=access.conversation.pk)


@messaging_page
@require_POST
def status(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a question answered, closed or open again (the patient's side may close it)."""
    access = _access(request, pk, "messaging.query.status")
    form = StatusForm(request.POST)
    if not form.is_valid():
        return conversation_page(request, access, error="Choose open, answered or closed.", status=400)
    try:
        query_status_set(access=access, status=form.cleaned_data["status"])
    except ApplicationError as error:
        return _refused(request, access, error)
    flash.success(request, STATUS_DONE[form.cleaned_data["status"]])
    return redirect("messaging:conversation", pk=access.conversation.pk)
