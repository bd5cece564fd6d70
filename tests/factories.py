"""Builders for what Cognito describes and for portals, shaped like real DescribeUserPool output.

The attribute shapes follow docs/cognito.md §4.1 and §4.2.
"""

from __future__ import annotations

import copy
from typing import Any

from signup.models import Portal
from signup.schema import snapshot_from_descriptions


def _string(name: str, *, required: bool = False, min_length: str = "0", max_length: str = "2048") -> dict[str, Any]:
    return {
        "Name": name,
        "AttributeDataType": "String",
        "DeveloperOnlyAttribute": False,
        "Mutable": True,
        "Required": required,
        "StringAttributeConstraints": {"MinLength": min_length, "MaxLength": max_length},
    }


def _boolean(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "AttributeDataType": "Boolean",
        "DeveloperOnlyAttribute": False,
        "Mutable": True,
        "Required": False,
    }


STANDARD_SCHEMA: list[dict[str, Any]] = [
    {**_string("sub", required=True, min_length="1"), "Mutable": False},
    _string("name"),
    _string("given_name"),
    _string("family_name"),
    _string("middle_name"),
    _string("nickname"),
    _string("preferred_username"),
    _string("profile"),
    _string("picture"),
    _string("website"),
    _string("email"),
    _boolean("email_verified"),
    _string("gender"),
    _string("birthdate", min_length="10", max_length="10"),
    _string("zoneinfo"),
    _string("locale"),
    _string("phone_number"),
    _boolean("phone_number_verified"),
    _string("address"),
    {
        "Name": "updated_at",
        "AttributeDataType": "Number",
        "DeveloperOnlyAttribute": False,
        "Mutable": True,
        "Required": False,
        "NumberAttributeConstraints": {"MinValue": "0"},
    },
    {**_string("identities"), "StringAttributeConstraints": {}},
]

CUSTOM_SCHEMA: list[dict[str, Any]] = [
    {
        "Name": "custom:company",
        "AttributeDataType": "String",
        "DeveloperOnlyAttribute": False,
        "Mutable": True,
        "Required": False,
        "StringAttributeConstraints": {"MinLength": "2", "MaxLength": "64"},
    },
    {
        "Name": "custom:employees",
        "AttributeDataType": "Number",
        "DeveloperOnlyAttribute": False,
        "Mutable": True,
        "Required": False,
        "NumberAttributeConstraints": {"MinValue": "1", "MaxValue": "100000"},
    },
    _boolean("custom:newsletter"),
    {
        "Name": "dev:custom:internal",
        "AttributeDataType": "String",
        "DeveloperOnlyAttribute": True,
        "Mutable": True,
        "Required": False,
        "StringAttributeConstraints": {},
    },
]


def describe_pool(*, required: tuple[str, ...] = ("email",), **overrides: Any) -> dict[str, Any]:
    schema = copy.deepcopy(STANDARD_SCHEMA + CUSTOM_SCHEMA)
    for attribute in schema:
        if attribute["Name"] in required:
            attribute["Required"] = True
    pool = {
        "Id": "us-east-1_Example1",
        "Name": "example",
        "SchemaAttributes": schema,
        "AutoVerifiedAttributes": ["email"],
        "Policies": {
            "PasswordPolicy": {
                "MinimumLength": 10,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": True,
                "TemporaryPasswordValidityDays": 7,
            }
        },
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False},
    }
    pool.update(overrides)
    return pool


DEFAULT_WRITE = [
    "email",
    "given_name",
    "family_name",
    "phone_number",
    "birthdate",
    "website",
    "locale",
    "zoneinfo",
    "custom:company",
    "custom:employees",
    "custom:newsletter",
]


def describe_client(*, secret: str | None = "s3cret-value-for-tests-only", **overrides: Any) -> dict[str, Any]:
    client: dict[str, Any] = {
        "UserPoolId": "us-east-1_Example1",
        "ClientName": "portal",
        "ClientId": "1example23456789abcdefghij",
        "WriteAttributes": list(DEFAULT_WRITE),
    }
    if secret:
        client["ClientSecret"] = secret
    client.update(overrides)
    return client


def snapshot(pool: dict[str, Any] | None = None, client: dict[str, Any] | None = None) -> dict[str, Any]:
    return snapshot_from_descriptions(pool or describe_pool(), client or describe_client())


def make_portal(slug: str = "acme", *, snap: dict[str, Any] | None = None, **fields: Any) -> Portal:
    values = {
        "name": "Acme",
        "region": "us-east-1",
        "user_pool_id": "us-east-1_Example1",
        "client_id": "1example23456789abcdefghij",
        "client_secret_env": "ACME_CLIENT_SECRET",
        "snapshot": snap if snap is not None else snapshot(),
        "challenge": "off",  # tests of the challenge ask for one (tests/test_challenges.py)
    }
    values.update(fields)
    from django.utils import timezone

    values.setdefault("synced_at", timezone.now())
    return Portal.objects.create(slug=slug, **values)


def emulated_portal(slug: str, pool: dict[str, str], endpoint_url: str) -> Portal:
    """A portal on a pool of the local Cognito (the dict demo.create_demo_pool returns), not synced yet;
    its client secret comes from DescribeUserPoolClient."""
    return Portal.objects.create(
        slug=slug,
        name=slug.replace("-", " ").title(),
        region="us-east-1",
        user_pool_id=pool["user_pool_id"],
        client_id=pool["client_id"],
        endpoint_url=endpoint_url,
        challenge="off",  # tests of the challenge ask for one
    )


# SecretHash test vectors from docs/cognito.md §2.5: (username, client id, secret, hash).
SECRET_HASH_VECTORS = [
    (
        "alice",
        "1example23456789abcdefghij",
        "1example2secret3456789abcdefghijklmnopqrstuvwxyz0123",
        "bLC1FCLnLqIm0H7NhtoKsfye514cwqhD2GH3yzLdXrQ=",
    ),
    (
        "jörg.müller@example.com",
        "4abcdefghij5klmnopqrst6uvw",
        "0123456789abcdefghijklmnopqrstuvwxyz0123456789ab",
        "u/RVpl1zCvtPdnu/eWHHZGNiA8v1LzIHXW9c4is8OJs=",
    ),
]
