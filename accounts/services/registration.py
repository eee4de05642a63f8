"""Patient self-registration, email verification, staff invitations and password resets.

No account enumeration: registering an email that is already taken answers exactly like a new
one (and costs the same password hashing); the owner of the address is told by email instead.
Links in emails are signed, expire, and are bound to the account's state, so each works once:
the verification link stops working once `email_verified_at` is set, the invitation link once
a password is set (its hash changes).
"""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import STAFF_ROLES, Role, User
from accounts.services.profiles import patient_profile_ensure
from audit.services import audit_record, audit_record_denied
from telemed.errors import ApplicationError, ConflictError
from telemed.events import on_commit

REGISTRATION_DONE_MESSAGE = (
    "Thank you. We have sent an email to the address you gave: follow its link to finish setting up your account."
)
EMAIL_VERIFICATION_SECONDS = 3 * 24 * 60 * 60
INVITATION_SECONDS = 72 * 60 * 60


class RegistrationErrorCode(StrEnum):
    FORBIDDEN = "forbidden"
    EMAIL_TAKEN = "email_taken"
    NOT_STAFF_ROLE = "not_staff_role"
    INVITATION_INVALID = "invitation_invalid"


class _ExpiringTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset-token machinery (HMAC of the account's state and a timestamp) with its own lifetime."""

    lifetime_seconds: int

    def check_token(self, user, token) -> bool:
        if not super().check_token(user, token):
            return False
        timestamp = base36_to_int(token.split("-", 1)[0])
        return self._num_seconds(self._now()) - timestamp <= self.lifetime_seconds


class EmailVerificationTokenGenerator(_ExpiringTokenGenerator):
    key_salt = "accounts.services.registration.EmailVerificationTokenGenerator"
    lifetime_seconds = EMAIL_VERIFICATION_SECONDS

    def _make_hash_value(self, user, timestamp) -> str:
        return f"{user.pk}{user.email}{user.email_verified_at}{timestamp}"


class InvitationTokenGenerator(_ExpiringTokenGenerator):
    key_salt = "accounts.services.registration.InvitationTokenGenerator"
    lifetime_seconds = INVITATION_SECONDS

    def _make_hash_value(self, user, timestamp) -> str:
        # The (unusable) password changes when the invitee sets one and when an admin invites again.
        return f"{user.pk}{user.email}{user.password}{user.is_active}{user.last_login}{timestamp}"


email_verification_tokens = EmailVerificationTokenGenerator()
invitation_tokens = InvitationTokenGenerator()


def user_uid(user: User) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def user_from_uid(uidb64: str) -> User | None:
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    return User.objects.filter(pk=pk).first()


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _email_send_on_commit(*, to: str, template: str, context: dict) -> None:
    """Send templates/accounts/email/<template>{_subject.txt,.txt,.html} once the transaction commits."""
    context = {"clinic_name": settings.CLINIC_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"accounts/email/{template}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string(f"accounts/email/{template}.txt", context), to=[to]
    )
    message.attach_alternative(render_to_string(f"accounts/email/{template}.html", context), "text/html")
    on_commit(message.send)


def _verification_email(user: User) -> None:
    path = reverse(
        "accounts:verify_email",
        kwargs={"uidb64": user_uid(user), "token": email_verification_tokens.make_token(user)},
    )
    _email_send_on_commit(
        to=user.email,
        template="verify_email",
        context={"user": user, "link": _absolute(path), "days": EMAIL_VERIFICATION_SECONDS // 86400},
    )


def patient_register(*, email: str, full_name: str, password: str) -> None:
    """Register a patient, or tell the owner of a taken address; the caller cannot tell which.

    Raises ValidationError for a password the validators refuse (judged against the new
    account's details, whether or not the address is taken). The new account can sign in but
    sees no health data until its email is verified. Audited `accounts.registration.create`
    or `accounts.registration.duplicate`.
    """
    email = User.objects.normalize_email(email).strip().lower()
    candidate = User(email=email, full_name=full_name.strip(), role=Role.PATIENT)
    try:
        password_validation.validate_password(password, candidate)
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list}) from None
    candidate.full_clean(exclude=["password", "email"])
    # Hash first, whatever follows: a taken address must not answer faster.
    candidate.password = make_password(password)
    _patient_register(candidate=candidate)


@transaction.atomic
def _patient_register(*, candidate: User) -> None:
    existing = User.objects.filter(email__iexact=candidate.email).first()
    if existing is None:
        try:
            # A savepoint: a concurrent registration of the same address loses on the unique index.
            with transaction.atomic():
                candidate.save()
        except IntegrityError:
            existing = User.objects.get(email__iexact=candidate.email)
    if existing is not None:
        _email_send_on_commit(
            to=existing.email,
            template="register_existing",
            context={
                "user": existing,
                "login_link": _absolute(reverse("accounts:login")),
                "reset_link": _absolute(reverse("accounts:password_reset")),
            },
        )
        audit_record(
            actor=None, action="accounts.registration.duplicate", target_type="accounts.user", target_id=existing.pk
        )
        return
    _verification_email(candidate)
    audit_record(
        actor=candidate, action="accounts.registration.create", target_type="accounts.user", target_id=candidate.pk
    )


def email_verify(*, uidb64: str, token: str) -> User | None:
    """Mark the address of the link's account verified and give a patient their profile.

    Returns the user, or None for a link that is malformed, expired or already used.
    Audited `accounts.email.verify`.
    """
    user = user_from_uid(uidb64)
    if user is None or not email_verification_tokens.check_token(user, token):
        return None
    return _email_verified_mark(user_id=user.pk)


@transaction.atomic
def _email_verified_mark(*, user_id: int) -> User | None:
    # Locked so that two clicks on the link verify (and create a profile) once.
    user = User.objects.select_for_update().get(pk=user_id)
    if user.email_verified_at is not None:
        return None
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified_at"])
    if user.role == Role.PATIENT:
        patient_profile_ensure(user=user)
    audit_record(actor=user, action="accounts.email.verify", target_type="accounts.user", target_id=user.pk)
    return user


def email_verification_resend(*, email: str) -> None:
    """Send the verification link again if `email` names an unverified account; otherwise nothing.

    The caller answers the same either way. Nothing is written, so nothing is audited.
    """
    user = User.objects.filter(email__iexact=email.strip(), is_active=True, email_verified_at__isnull=True).first()
    if user is not None:
        _verification_email(user)


# --- Staff invitations ------------------------------------------------------------------------


def _is_pending_invitation(user: User) -> bool:
    return not user.is_active and not user.has_usable_password() and user.last_login is None


def staff_invite(*, actor: User, email: str, full_name: str, role: str) -> User:
    """Create an inactive staff account without a password and email it a one-time link (72 h).

    Inviting an address whose invitation is still pending sends a new link and voids the old
    one. Only an active clinic admin may invite (refusal audited). Raises ConflictError for an
    address that already has an account, ValidationError for a role that is not staff.
    Audited `accounts.user.invite`.
    """
    if not (actor.is_active and actor.role == Role.ADMIN):
        audit_record_denied(actor=actor, action="accounts.user.invite", target_type="accounts.user")
        raise ApplicationError(
            "Only a clinic admin can invite staff.", RegistrationErrorCode.FORBIDDEN, status_code=403
        )
    if role not in STAFF_ROLES:
        raise ValidationError(
            {"role": "Invite a doctor, a nurse or an admin."}, code=RegistrationErrorCode.NOT_STAFF_ROLE
        )
    return _staff_invite(
        actor=actor, email=User.objects.normalize_email(email).strip().lower(), full_name=full_name.strip(), role=role
    )


@transaction.atomic
def _staff_invite(*, actor: User, email: str, full_name: str, role: str) -> User:
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    if user is not None and not _is_pending_invitation(user):
        raise ConflictError("An account with this email address already exists.", RegistrationErrorCode.EMAIL_TAKEN)
    if user is None:
        user = User(email=email)
    user.full_name = full_name
    user.role = role
    user.is_staff = role == Role.ADMIN
    user.is_active = False
    # A fresh random unusable password: it voids any earlier invitation link.
    user.set_unusable_password()
    user.full_clean()
    user.save()
    path = reverse(
        "accounts:invite_accept", kwargs={"uidb64": user_uid(user), "token": invitation_tokens.make_token(user)}
    )
    _email_send_on_commit(
        to=user.email,
        template="invite",
        context={"user": user, "inviter": actor, "link": _absolute(path), "hours": INVITATION_SECONDS // 3600},
    )
    audit_record(actor=actor, action="accounts.user.invite", target_type="accounts.user", target_id=user.pk)
    return user


def invitation_user(*, uidb64: str, token: str) -> User | None:
    """The invited account of a link that is still valid, or None."""
    user = user_from_uid(uidb64)
    if user is None or not _is_pending_invitation(user) or not invitation_tokens.check_token(user, token):
        return None
    return user


def invitation_accept(*, uidb64: str, token: str, password: str) -> User:
    """Set the invitee's password and activate the account; the link then stops working.

    Raises ApplicationError (invitation_invalid) for a bad, expired or used link, and
    ValidationError for a password the validators refuse. The address is verified by the same
    stroke. Audited `accounts.invitation.accept`.
    """
    user = invitation_user(uidb64=uidb64, token=token)
    if user is None:
        raise ApplicationError(
            "This invitation link is invalid or has expired.", RegistrationErrorCode.INVITATION_INVALID
        )
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list}) from None
    return _invitation_accept(user_id=user.pk, password_hash=make_password(password), token=token)


@transaction.atomic
def _invitation_accept(*, user_id: int, password_hash: str, token: str) -> User:
    # Locked and checked again: two submissions of one link must not both succeed.
    user = User.objects.select_for_update().get(pk=user_id)
    if not _is_pending_invitation(user) or not invitation_tokens.check_token(user, token):
        raise ApplicationError(
            "This invitation link is invalid or has expired.", RegistrationErrorCode.INVITATION_INVALID
        )
    user.password = password_hash
    user.is_active = True
    user.email_verified_at = user.email_verified_at or timezone.now()
    user.save(update_fields=["password", "is_active", "email_verified_at"])
    audit_record(actor=user, action="accounts.invitation.accept", target_type="accounts.user", target_id=user.pk)
    return user


# --- Password reset ----------------------------------------------------------------------------


@transaction.atomic(durable=True)
def password_reset_complete(*, user: User, password: str) -> User:
    """Set a new password from a reset link (already validated by the form).

    Changing the password ends the user's other sessions (Django's session hash) and API tokens
    (the revoke claim). Following the link proves the address, so it counts as verified.
    Audited `accounts.password.reset`.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    user.set_password(password)
    user.email_verified_at = user.email_verified_at or timezone.now()
    user.save(update_fields=["password", "email_verified_at"])
    audit_record(actor=user, action="accounts.password.reset", target_type="accounts.user", target_id=user.pk)
    return user
