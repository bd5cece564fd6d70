"""The portal's sign-up form as bench/ and loadtest/ fill it in, and the signed tokens it carries.

What the portal's code decides and this module mirrors, so that a change there fails here loudly: the
honeypot input's name, the hidden inputs a rendered form has, the demo pool's password policy, and how a
form token is signed (its salt is read from signup/guards.py, and FormTokens refuses to start unless a
token the portal rendered verifies).
"""

from __future__ import annotations

import ast
import base64
import json
import re
import secrets
import time
import zlib
from pathlib import Path
from typing import Any

from django.core.signing import BadSignature, TimestampSigner

from perfkit.stack import StackError

ROOT = Path(__file__).resolve().parent.parent
HONEYPOT_FIELD = "contact_preference_note"  # the portal's honeypot input: people leave it empty, so do we
HIDDEN_INPUT = re.compile(rb'<input type="hidden" name="(csrfmiddlewaretoken|form_token)" value="([^"]+)"')


def form_path(slug: str) -> str:
    return f"/signup/{slug}/"


def hidden_inputs(body: bytes) -> dict[str, str]:
    """The CSRF token and the form token of a rendered form (either may be missing)."""
    return {name.decode(): value.decode() for name, value in HIDDEN_INPUT.findall(body)}


def person(index: int, username: str) -> dict[str, str]:
    """A valid, unique sign-up for the demo pool (password policy: 10+, upper, lower, digit, symbol)."""
    return {
        "username": username,
        "password": f"Lt!{secrets.token_hex(6)}9Z",
        "email": f"{username}@example.com",
        "given_name": "Load",
        "family_name": f"Tester {index}",
        "custom_company": "Load Test Ltd",
    }


def signed_payload(token: str) -> dict[str, Any]:
    """The JSON inside a django.core.signing token ("payload:timestamp:signature"), not verified."""
    payload = token.split(":", 1)[0]
    compressed, payload = payload.startswith("."), payload.lstrip(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    data: dict[str, Any] = json.loads(zlib.decompress(raw) if compressed else raw)
    return data


class FormTokens:
    """New form tokens signed as the portal signs them, so a load generator can post many forms after
    opening one (each token's key makes its own attempt)."""

    def __init__(self, secret_key: str, rendered_token: str) -> None:
        self.signer = TimestampSigner(key=secret_key, salt=form_token_salt(), fallback_keys=[])
        try:
            self.template = self.signer.unsign_object(rendered_token)
        except BadSignature as error:
            raise StackError("the portal's form token no longer verifies as perfkit/forms.py mints it") from error
        if not isinstance(self.template, dict) or set(self.template) < {"k", "t"}:
            raise StackError(f"the form token's payload changed: {sorted(self.template)}")

    def mint(self) -> str:
        return self.signer.sign_object({**self.template, "k": secrets.token_urlsafe(18), "t": time.time()})


def form_token_salt() -> str:
    tree = ast.parse((ROOT / "signup" / "guards.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "FORM_TOKEN_SALT" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise StackError("signup/guards.py has no FORM_TOKEN_SALT")
