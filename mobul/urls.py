from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views import defaults
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.forms import AdminLoginForm, LoginForm
from ops.views import health, metrics

from .api import json_server_error
from .views import constant, favicon

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the docs work under the CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("", include("accounts.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("mailpieces.api.urls")),
    path("", include("analytics.api.urls")),
    path("", include("giftcards.api.urls")),
    path("", include("calltracking.api.urls")),
    path("", include("mailpieces.api.print_run_urls")),
    path("", include("webhooks.api.urls")),
]

urlpatterns = [
    # The dashboard sends a visitor who is not signed in on to sign in.
    path("", RedirectView.as_view(pattern_name="dashboard:overview"), name="home"),
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("health/", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("r/", include("campaigns.urls")),
    path("webhooks/mail/", include("analytics.webhook_urls")),
    path("webhooks/twilio/", include("calltracking.webhook_urls")),
    path("app/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=LoginForm),
         name="login"),
    path("app/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("app/password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("app/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("app/password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("app/password-reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    path("app/calls/", include("calltracking.urls")),
    path("app/", include("dashboard.urls")),
]

admin.site.login_form = AdminLoginForm
admin.site.site_header = "Mobul staff"
admin.site.site_title = "Mobul staff"
admin.site.index_title = "Operations"


def handler500(request):
    if request.path.startswith("/api/"):
        return json_server_error(request)
    return defaults.server_error(request)


if settings.BENCH_TRIVIAL_ENDPOINT:
    urlpatterns.append(path("bench/constant/", constant))

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
