from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm

from .models import Membership, User


class InvitationEmail(PasswordResetForm):
    """Django's password-reset email, sent to one invited person: the same token, link and confirm page."""

    def __init__(self, invitee):
        super().__init__({"email": invitee.email})
        self.invitee = invitee

    def get_users(self, email):
        # The stock form skips accounts without a usable password: exactly the ones an invitation is for.
        return [self.invitee] if self.invitee.is_active else []


@shared_task(acks_late=True)
def send_team_invitation(membership_id, invited_by_id):
    membership = Membership.objects.select_related("user", "client").filter(pk=membership_id).first()
    if membership is None:  # removed again before the email went out
        return
    inviter = User.objects.filter(pk=invited_by_id).first()
    site = urlsplit(settings.PUBLIC_BASE_URL)
    email = InvitationEmail(membership.user)
    email.is_valid()
    email.save(
        domain_override=site.netloc, use_https=site.scheme == "https",
        subject_template_name="accounts/invitation_subject.txt",
        email_template_name="accounts/invitation_email.txt",
        extra_email_context={
            "client": membership.client, "role": membership.get_role_display(),
            "inviter": (inviter.full_name or inviter.email) if inviter else "A colleague",
            "needs_password": not membership.user.has_usable_password(),
            "link_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        },
    )
