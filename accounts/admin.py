from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from mobul.admin import LabelledInlineFormSet, ReadOnlyAdminMixin

from .choices import ApiKeyScope
from .models import ApiKey, AuditLog, Client, Membership, Organization, User
from .services import create_api_key, revoke_api_key


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = LabelledInlineFormSet
    extra = 0
    autocomplete_fields = ["organization", "client"]
    fk_name = "user"


class ClientMembershipInline(admin.TabularInline):
    model = Membership
    formset = LabelledInlineFormSet
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "organization", "is_active", "created_at"]
    list_filter = ["is_active", "organization"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    list_select_related = ["organization"]
    inlines = [ClientMembershipInline]


class MobulUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ["email", "full_name"]


class MobulUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = MobulUserChangeForm
    add_form = MobulUserCreationForm
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "memberships__role"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    # Kept by Django, not typed by staff (and the split date/time inputs had no label of their own).
    readonly_fields = ["last_login", "date_joined"]
    # Plain labelled multi-selects: the two-pane filter's search icons carry an aria-label a <span> may not have.
    filter_horizontal = ()
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "full_name", "password1", "password2"]})]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "organization", "client", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "client__name", "organization__name"]
    autocomplete_fields = ["user", "organization", "client"]
    list_select_related = ["user", "organization", "client"]


class ApiKeyCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices, widget=forms.CheckboxSelectMultiple, initial=[ApiKeyScope.READ]
    )

    class Meta:
        model = ApiKey
        fields = ["client", "name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "client", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "client"]
    search_fields = ["name", "prefix", "client__name"]
    list_select_related = ["client"]
    readonly_fields = ["prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ["client", *self.readonly_fields] if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["client", "name", "scopes"]
        return ["name", "client", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, raw_key = create_api_key(
            client=form.cleaned_data["client"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
            request=request,
        )
        obj.pk, obj.prefix, obj._state.adding = api_key.pk, api_key.prefix, False
        messages.warning(request, f"Copy the new key now, it will not be shown again: {raw_key}")

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True).order_by("pk"):
            revoke_api_key(api_key=api_key, revoked_by=request.user, request=request)
        self.message_user(request, "Selected keys are revoked.", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        # Keys are revoked, not deleted, so the audit trail keeps pointing at them.
        return False


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "action", "object_type", "object_id", "object_repr", "actor", "api_key", "client", "ip"]
    list_filter = ["action", "object_type", ("created_at", admin.DateFieldListFilter), "client"]
    search_fields = ["object_id", "object_repr", "actor__email", "api_key__prefix", "request_id"]
    list_select_related = ["actor", "api_key", "client"]
    show_full_result_count = False

