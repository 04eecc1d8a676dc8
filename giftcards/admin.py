from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from mobul.admin import ReadOnlyAdminMixin, apply_to_each

from . import services
from .models import GiftCard, GiftCardLog, GiftCardPool, PoolAlert
from .selectors import is_low, with_stock


@admin.register(GiftCardPool)
class GiftCardPoolAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "brand", "denomination", "currency", "stock_level", "created_at"]
    list_filter = ["brand", "currency", "client"]
    search_fields = ["name", "brand", "client__name"]
    list_select_related = ["client"]
    autocomplete_fields = ["client"]

    def get_queryset(self, request):
        return with_stock(super().get_queryset(request))

    @admin.display(description="Available / total")
    def stock_level(self, pool):
        flag = " ⚠ low" if is_low(pool) else ""
        return f"{pool.available} / {pool.total}{flag}"


# Codes revealed by one action: enough for a support case, few enough to read off one screen.
REVEAL_AT_ONCE = 5


def _card_name(card):
    return f"Card {card.pk}"


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))


@admin.register(GiftCard)
class GiftCardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Codes never appear here; "Reveal code" shows one on purpose and leaves a trace in both logs."""

    list_display = ["__str__", "pool", "status", "recipient", "claimed_at", "delivery_status", "redeemed_at",
                    "expires_on"]
    list_filter = ["status", "delivery_status", "pool"]
    search_fields = ["=last4", "=recipient__redemption_token"]
    list_select_related = ["pool", "recipient"]
    raw_id_fields = ["recipient"]
    show_full_result_count = False
    exclude = ["code_encrypted", "code_hash"]
    readonly_fields = [field.name for field in GiftCard._meta.fields if field.name not in ("code_encrypted", "code_hash")]
    actions = ["reveal_code", "void_cards", "reissue_cards", "mark_redeemed", "delivery_arrived", "send_again"]


    @admin.action(description="Reveal the code (audited)")
    def reveal_code(self, request, queryset):
        # On this response's page only: a message would carry the code in a cookie (Django's message storage).
        cards = list(queryset.select_related("pool").order_by("pk")[:REVEAL_AT_ONCE + 1])
        revealed = [(card, services.reveal_code(card=card, request=request)) for card in cards[:REVEAL_AT_ONCE]]
        response = render(request, "admin/giftcards/revealed_codes.html", {
            **self.admin_site.each_context(request), "title": "Gift-card codes", "opts": self.model._meta,
            "revealed": revealed, "more": len(cards) > REVEAL_AT_ONCE,
        })
        add_never_cache_headers(response)
        return response

    def _with_reason(self, request, queryset, title, apply):
        form = ReasonForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            done = apply_to_each(self, request, queryset, lambda card: apply(card, form.cleaned_data["reason"]),
                                 name=_card_name)
            if done:
                self.message_user(request, f"{title}: {len(done)} card(s).", messages.SUCCESS)
            return None
        return render(request, "admin/giftcards/reason.html", {
            **self.admin_site.each_context(request), "title": title, "form": form, "cards": queryset,
            "action": request.POST["action"], "checkbox": ACTION_CHECKBOX_NAME, "opts": self.model._meta,
        })

    @admin.action(description="Void (with a reason)")
    def void_cards(self, request, queryset):
        return self._with_reason(request, queryset, "Voided",
                                 lambda card, reason: services.void_card(card=card, reason=reason, request=request))

    @admin.action(description="Reissue to the same recipient (with a reason)")
    def reissue_cards(self, request, queryset):
        return self._with_reason(request, queryset.filter(recipient__isnull=False), "Reissued",
                                 lambda card, reason: services.reissue_card(card=card, reason=reason, request=request))

    @admin.action(description="Mark redeemed (the brand confirmed it was spent)")
    def mark_redeemed(self, request, queryset):
        done = apply_to_each(self, request, queryset, lambda card: services.mark_redeemed(card=card, request=request),
                             name=_card_name)
        if done:
            self.message_user(request, f"Marked redeemed: {len(done)} card(s).", messages.SUCCESS)

    # Unconfirmed deliveries: a send began and its worker died before it reported back. Check the provider's
    # log (or ask the recipient) first.
    @admin.action(description="Unconfirmed delivery: it arrived, record it as sent (with a reason)")
    def delivery_arrived(self, request, queryset):
        return self._with_reason(request, queryset, "Recorded as sent", lambda card, reason: (
            services.settle_unconfirmed_delivery(card=card, arrived=True, reason=reason, request=request)))

    @admin.action(description="Unconfirmed delivery: it never arrived, send it again (with a reason)")
    def send_again(self, request, queryset):
        return self._with_reason(request, queryset, "Sent again", lambda card, reason: (
            services.settle_unconfirmed_delivery(card=card, arrived=False, reason=reason, request=request)))


@admin.register(GiftCardLog)
class GiftCardLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "card", "action", "from_status", "to_status", "recipient_id", "actor", "reason"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=card__id", "=recipient_id"]
    list_select_related = ["card", "actor"]
    show_full_result_count = False


@admin.register(PoolAlert)
class PoolAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Opened and resolved by the stock check as cards come and go."""

    list_display = ["pool", "available", "total", "opened_at", "resolved_at"]
    list_filter = ["resolved_at"]
    list_select_related = ["pool"]
