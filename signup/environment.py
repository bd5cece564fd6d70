"""Secrets from the environment: a variable, or the file its <NAME>_FILE names (a Docker or Kubernetes
secret mounted as a file). The one reader for the client secret, the CAPTCHA providers' secrets and the
webhook signing secrets."""

from __future__ import annotations

import os


def secret(name: str) -> str:
    """The variable's value as given; when it is empty, the stripped content of the file <name>_FILE
    names; "" when neither gives one. OSError when that file cannot be read: each caller says what that
    means for it."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if not value and path:
        with open(path, encoding="utf-8") as file:
            value = file.read().strip()
    return value
