"""The minimal forwarding view: read the POST, call SignUp once on a process-wide boto3 client, redirect.

It sends what the portal sends for the benchmark's form (the same attributes and SecretHash) and
records nothing: the floor that HTTP, gunicorn and Django impose on a sign-up. The benchmark's bare
boto3 call uses the same client configuration and parameters, from the benchmark's own process.
"""

import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Mapping
from typing import Any

import boto3
import botocore
from botocore.config import Config
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

# Cognito attribute -> form input, as the portal's form names them for the demo pool.
ATTRIBUTES = {"email": "email", "given_name": "given_name", "family_name": "family_name"}
ATTRIBUTES["custom:company"] = "custom_company"
_client: Any = None
_lock = threading.Lock()


def make_client(endpoint_url: str) -> Any:
    """The portal's public-call configuration: unsigned, no retries, its timeouts; a pool never too small."""
    config = Config(
        signature_version=botocore.UNSIGNED,
        retries={"total_max_attempts": 1},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=64,
    )
    return boto3.session.Session().client(
        "cognito-idp", region_name="us-east-1", endpoint_url=endpoint_url, config=config
    )


def sign_up_params(form: Mapping[str, str], client_id: str, secret: str) -> dict[str, Any]:
    username = form["username"]
    digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return {
        "ClientId": client_id,
        "Username": username,
        "Password": form["password"],
        "SecretHash": base64.b64encode(digest).decode(),
        "UserAttributes": [{"Name": name, "Value": form[field]} for name, field in ATTRIBUTES.items()],
    }


def client() -> Any:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = make_client(os.environ["BENCH_FAKE_URL"])
    return _client


def forward(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    params = sign_up_params(request.POST, os.environ["BENCH_CLIENT_ID"], os.environ["BENCH_CLIENT_SECRET"])
    answer = client().sign_up(**params)
    return HttpResponseRedirect(f"/bench/forward/?sub={answer['UserSub']}")
