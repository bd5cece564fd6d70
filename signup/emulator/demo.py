"""A demo user pool on the emulator, shaped like the pools the portal is built for."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config

SIGN_UP_ATTRIBUTES = [
    "email",
    "given_name",
    "family_name",
    "phone_number",
    "birthdate",
    "custom:company",
    "custom:employees",
    "custom:newsletter",
]
_REQUIRED = {"email", "given_name", "family_name"}
_CUSTOM_ATTRIBUTES: list[dict[str, Any]] = [
    {
        "Name": "company",
        "AttributeDataType": "String",
        "Mutable": True,
        "StringAttributeConstraints": {"MinLength": "2", "MaxLength": "64"},
    },
    {
        "Name": "employees",
        "AttributeDataType": "Number",
        "Mutable": True,
        "NumberAttributeConstraints": {"MinValue": "1", "MaxValue": "100000"},
    },
    # Boolean, declared through the API as Cognito allows; clients must send the strings "true" or
    # "false" (docs/cognito.md §4.3), which is what the portal's checkbox sends.
    {"Name": "newsletter", "AttributeDataType": "Boolean", "Mutable": True},
]


def emulator_client(base_url: str, region_name: str = "us-east-1") -> BaseClient:
    """A cognito-idp client for the emulator: dummy credentials, no automatic retries (docs/cognito.md §7.2)."""
    return boto3.client(
        "cognito-idp",
        region_name=region_name,
        endpoint_url=base_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def standard_schema(client: BaseClient) -> list[dict[str, Any]]:
    """The standard attributes as a schema-less pool describes them.

    moto describes only the listed attributes of a pool created with a Schema, so a pool that
    should look real must list the standard ones too (docs/cognito.md §9.5).
    """
    pool_id = client.create_user_pool(PoolName="standard-schema-probe")["UserPool"]["Id"]
    try:
        described = client.describe_user_pool(UserPoolId=pool_id)["UserPool"]["SchemaAttributes"]
    finally:
        client.delete_user_pool(UserPoolId=pool_id)
    for attribute in described:
        attribute.pop("DeveloperOnlyAttribute", None)
    return described


def create_demo_pool(client: BaseClient) -> dict[str, str]:
    """Create the "demo" pool and its "portal" client; returns their ids and the secret."""
    schema = standard_schema(client)
    for attribute in schema:
        if attribute["Name"] in _REQUIRED:
            attribute["Required"] = True
    pool_id = client.create_user_pool(
        PoolName="demo",
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 10,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": True,
            }
        },
        AutoVerifiedAttributes=["email"],
        UsernameConfiguration={"CaseSensitive": False},
        Schema=schema + _CUSTOM_ATTRIBUTES,
    )["UserPool"]["Id"]
    app_client = client.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="portal",
        GenerateSecret=True,
        WriteAttributes=SIGN_UP_ATTRIBUTES,
        ReadAttributes=[*SIGN_UP_ATTRIBUTES, "email_verified"],
    )["UserPoolClient"]
    return {
        "user_pool_id": pool_id,
        "client_id": app_client["ClientId"],
        "client_secret": app_client["ClientSecret"],
    }
