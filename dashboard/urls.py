"""The client dashboard under /app/. Object ids are named by type (campaign_id, pool_id, ...): the tenant
isolation test fills every pattern with another tenant's object of that type."""

from django.urls import path

from .views import agent, calls, campaigns, giftcards, home, print_runs, proofs, recipients, settings, webhooks

app_name = "dashboard"

urlpatterns = [
    path("", home.overview, name="overview"),
    path("switch-client/", home.switch_client, name="switch_client"),
    path("campaigns/", campaigns.campaign_list, name="campaign_list"),
    path("campaigns/new/", campaigns.campaign_create, name="campaign_create"),
    path("campaigns/<int:campaign_id>/", campaigns.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:campaign_id>/edit/", campaigns.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:campaign_id>/transition/", campaigns.campaign_transition, name="campaign_transition"),
    path("campaigns/<int:campaign_id>/export/", campaigns.campaign_export, name="campaign_export"),
    path("campaigns/<int:campaign_id>/recipients/", campaigns.campaign_recipients, name="campaign_recipients"),
    path("campaigns/<int:campaign_id>/recipients.csv", campaigns.campaign_recipients_csv,
         name="campaign_recipients_csv"),
    path("campaigns/<int:campaign_id>/results.csv", campaigns.campaign_results_csv, name="campaign_results_csv"),
    path("campaigns/<int:campaign_id>/import/", recipients.recipient_import, name="recipient_import"),
    path("imports/staged/<int:staged_import_id>/", recipients.import_mapping, name="campaign_import_mapping"),
    path("campaigns/<int:campaign_id>/print-run/", print_runs.print_run_start, name="print_run_start"),
    path("print-runs/<int:print_run_id>/download/", print_runs.print_run_download, name="print_run_download"),
    path("campaigns/<int:campaign_id>/proofs/", proofs.proof_generate, name="proof_generate"),
    path("proofs/<int:proof_id>/status/", proofs.proof_status, name="proof_status"),
    path("proofs/<int:proof_id>/pdf/", proofs.proof_pdf, name="proof_pdf"),
    path("proof-pieces/<int:piece_id>/thumbnail/", proofs.proof_thumbnail, name="proof_thumbnail"),
    path("recipients/", recipients.recipient_search, name="recipient_search"),
    path("recipients/<int:recipient_id>/", recipients.recipient_detail, name="recipient_detail"),
    path("imports/<int:import_id>/", recipients.import_progress, name="import_progress"),
    path("imports/<int:import_id>/status/", recipients.import_status, name="import_status"),
    path("imports/<int:import_id>/errors/", recipients.import_errors, name="import_errors"),
    path("gift-cards/", giftcards.pool_list, name="pool_list"),
    path("gift-cards/<int:pool_id>/", giftcards.pool_detail, name="pool_detail"),
    path("gift-cards/<int:pool_id>/upload/", giftcards.pool_upload, name="pool_upload"),
    path("gift-cards/<int:pool_id>/assign/", giftcards.pool_assign, name="pool_assign"),
    path("calls/", calls.call_log, name="call_log"),
    path("calls/<int:call_id>/recording/", calls.call_recording, name="call_recording"),
    path("calls/agent/", agent.agent_calls, name="agent_calls"),
    path("calls/agent/live/", agent.agent_calls_live, name="agent_calls_live"),
    path("calls/agent/<int:call_id>/", agent.agent_call, name="agent_call"),
    path("settings/api-keys/", settings.api_keys, name="api_keys"),
    path("settings/api-keys/<int:key_id>/revoke/", settings.api_key_revoke, name="api_key_revoke"),
    path("settings/webhooks/", webhooks.webhooks, name="webhooks"),
    path("settings/webhooks/<int:endpoint_id>/", webhooks.webhook_endpoint, name="webhook_endpoint"),
    path("settings/webhooks/<int:endpoint_id>/rotate-secret/", webhooks.webhook_rotate, name="webhook_rotate"),
    path("settings/webhook-messages/<int:message_id>/replay/", webhooks.webhook_replay, name="webhook_replay"),
    path("settings/team/", settings.team, name="team"),
    path("settings/team/<int:membership_id>/role/", settings.member_role, name="member_role"),
    path("settings/team/<int:membership_id>/remove/", settings.member_remove, name="member_remove"),
    path("settings/team/<int:membership_id>/resend/", settings.member_resend, name="member_resend"),
]
