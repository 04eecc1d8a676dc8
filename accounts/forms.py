from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from mobul.ratelimit import RateLimited, limit, wait_text


class RateLimitedLoginMixin:
    """Counts each sign-in attempt per client IP and per e-mail address before the password is checked.

    When Redis is down, sign-in is let through (with a logged warning) rather than locking staff out."""

    def clean(self):
        email = (self.cleaned_data.get("username") or "").strip().lower()
        keys = {"ip": None, "email": email} if email else {"ip": None}
        try:
            limit(self.request, "login", keys=keys, fail_open=True)
        except RateLimited as refusal:
            raise forms.ValidationError(
                f"Too many sign-in attempts. Please wait {wait_text(refusal.retry_after)} and try again.",
                code="rate_limited") from None
        return super().clean()


class LoginForm(RateLimitedLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(RateLimitedLoginMixin, AdminAuthenticationForm):
    pass
