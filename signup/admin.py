from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from . import cognito, services
from .models import FieldOverride, Portal, SignupAttempt, ValidationDataField


class FieldOverrideInline(admin.TabularInline):
    model = FieldOverride
    extra = 0
    fields = ("attribute", "label", "help_text", "placeholder", "order", "hidden", "choices")


class ValidationDataFieldInline(admin.TabularInline):
    model = ValidationDataField
    extra = 0
    fields = ("name", "label", "type", "required", "help_text", "max_length", "order")


@admin.register(Portal)
class PortalAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "user_pool_id", "client_id", "is_open", "synced_at", "form_link")
    list_filter = ("is_open", "region")
    search_fields = ("slug", "name", "user_pool_id", "client_id")
    readonly_fields = ("synced_at", "snapshot_summary", "form_link")
    inlines = [FieldOverrideInline, ValidationDataFieldInline]
    actions = ["sync_from_cognito"]
    fieldsets = (
        (None, {"fields": ("slug", "name", "is_open", "form_link")}),
        (_("Cognito"), {"fields": ("region", "user_pool_id", "client_id", "endpoint_url", "client_secret_env")}),
        (
            _("Behaviour"),
            {"fields": ("success_url", "client_metadata", "client_metadata_params", "advanced_security")},
        ),
        (_("Snapshot of the pool"), {"fields": ("synced_at", "snapshot_summary")}),
    )

    @admin.display(description=_("form"))
    def form_link(self, portal: Portal) -> str:
        if not portal.pk:
            return "—"
        return format_html(
            '<a href="/signup/{}/" target="_blank" rel="noopener">/signup/{}/</a>', portal.slug, portal.slug
        )

    @admin.display(description=_("what the form is built from"))
    def snapshot_summary(self, portal: Portal) -> str:
        snapshot = portal.snapshot
        if not snapshot:
            return str(_("Not synced yet: use the “Sync from Cognito” action."))
        spec = services.portal_form_spec(portal)
        rows = format_html_join(
            "",
            "<li><code>{}</code> {} ({}{})</li>",
            ((f.attribute or f.name, f.label, f.type, _(", required") if f.required else "") for f in spec.fields),
        )
        facts = {
            "username": spec.username_mode,
            "case sensitive": snapshot.get("case_sensitive"),
            "auto-verified": snapshot.get("auto_verified"),
            "client has a secret": snapshot.get("has_secret"),
            "self sign-up": not snapshot.get("admin_create_only"),
            "password policy": snapshot.get("password_policy"),
        }
        return format_html("<ul>{}</ul><pre>{}</pre>", rows, json.dumps(facts, indent=2))

    @admin.action(description=_("Sync from Cognito (DescribeUserPool, DescribeUserPoolClient)"))
    def sync_from_cognito(self, request: HttpRequest, queryset: QuerySet[Portal]) -> None:
        synced = 0
        for portal in queryset:
            try:
                services.portal_sync(portal=portal)
                synced += 1
            except (cognito.CognitoError, cognito.CognitoUnreachable, cognito.CognitoNoAnswer) as error:
                self.message_user(
                    request, _("%(slug)s: %(error)s") % {"slug": portal.slug, "error": error}, messages.ERROR
                )
        if synced:
            self.message_user(request, _("Synced %(n)d portal(s).") % {"n": synced}, messages.SUCCESS)


@admin.register(SignupAttempt)
class SignupAttemptAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "portal",
        "username",
        "status",
        "error_code",
        "user_confirmed",
        "confirmed_at",
        "channel",
        "latency_ms",
    )
    list_filter = ("portal", "status", "error_code", "channel")
    search_fields = ("username", "user_sub", "request_id", "=reference")
    date_hierarchy = "created_at"
    list_select_related = ("portal",)
    ordering = ("-created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
