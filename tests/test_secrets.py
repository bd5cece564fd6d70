"""After every way in (page, frame, command line) and every way out (pages, admin, export, logs),
neither the password nor the client secret is anywhere: the test searches for the values themselves."""

import io
import logging
import re

import pytest
import requests
from django.core.management import call_command

from signup.models import Portal

pytestmark = pytest.mark.django_db

PASSWORD = "Uniq-Passw0rd!7Zq"
HOST = "https://shop.example.com"


def test_no_password_or_client_secret_is_stored_logged_or_shown(
    client, admin_client, emulator, demo_pool, demo_portal, monkeypatch, caplog
):
    secret = demo_pool["client_secret"]
    monkeypatch.setenv("DEMO_CLIENT_SECRET", secret)
    demo_portal.client_secret_env = "DEMO_CLIENT_SECRET"
    demo_portal.embed_origins = [HOST]
    demo_portal.save()
    seen: list[str] = []

    def keep(response):
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seen.append(body.decode("utf-8", "replace"))
        seen.append(str(response.headers))
        return response

    person = {"password": PASSWORD, "given_name": "Ann", "family_name": "Lee"}
    with caplog.at_level(logging.INFO):
        # The page: a refused password (shown back without it), then a good sign-up, confirmation, resend.
        keep(
            client.post(
                "/signup/demo/", {**person, "username": "ann", "email": "ann@example.com", "password": PASSWORD.lower()}
            )
        )
        confirm = keep(client.post("/signup/demo/", {**person, "username": "ann", "email": "ann@example.com"}))
        keep(client.get(confirm["Location"]))
        keep(client.post(confirm["Location"], {"username": "ann", "resend": "1"}))
        code = requests.get(f"{emulator}/_outbox", params={"username": "ann"}, timeout=5).json()[-1]["code"]
        keep(client.post(confirm["Location"], {"username": "ann", "code": code}))
        # The frame.
        frame = keep(client.get(f"/embed/demo/?parent={HOST}"))
        token = re.search(r'name="embed_token" value="([^"]+)"', frame.content.decode()).group(1)
        keep(
            client.post(
                f"/embed/demo/?parent={HOST}",
                {**person, "username": "bea", "email": "bea@example.com", "embed_token": token},
                HTTP_SEC_FETCH_SITE="same-origin",
            )
        )
        # The command line.
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(
                "signup",
                "demo",
                "--username",
                "cal",
                "--password",
                PASSWORD,
                "--user-attributes",
                "Name=email,Value=cal@example.com",
                "Name=given_name,Value=Cal",
                "Name=family_name,Value=Li",
                stdout=out,
                stderr=err,
            )
        finally:
            seen += [out.getvalue(), err.getvalue()]
        # Operators' views and the export.
        for url in (
            "/admin/signup/signupattempt/",
            "/admin/signup/stuckuser/",
            f"/admin/signup/portal/{demo_portal.pk}/change/",
            "/admin/signup/signupattempt/export.csv",
        ):
            keep(admin_client.get(url))
        for pk in demo_portal.attempts.values_list("pk", flat=True):
            keep(admin_client.get(f"/admin/signup/signupattempt/{pk}/change/"))
        keep(client.get("/signup/demo/schema.json"))

    database = io.StringIO()
    call_command("dumpdata", "signup", "auth", stdout=database)
    logged = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert demo_portal.attempts.count() >= 4
    for name, text in {"pages": "\n".join(seen), "database": database.getvalue(), "logs": logged}.items():
        assert PASSWORD not in text and PASSWORD.lower() not in text, f"the password is in the {name}"
        assert secret not in text, f"the client secret is in the {name}"
    assert "DEMO_CLIENT_SECRET" in Portal.objects.values_list("client_secret_env", flat=True)
