"""The only module that reaches into moto's in-memory cognito-idp backend.

It turns moto's pool and client objects into the plain rules of rules.py, and finds, creates
and confirms users on moto's own model objects, so every pass-through call (AdminGetUser,
ListUsers, AdminConfirmSignUp ...) sees what the emulator did.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from types import ModuleType, SimpleNamespace
from typing import Any

from joserfc import jwk
from moto.cognitoidp import models
from moto.cognitoidp.models import (
    CognitoIdpUser,
    CognitoIdpUserPool,
    CognitoIdpUserPoolAttribute,
    CognitoIdpUserPoolClient,
    UserStatus,
    cognitoidp_backends,
)

from .rules import AttributeSpec, ClientRules, PasswordPolicy, PoolRules, client_not_found
from .state import UserKey

# Cognito's policy for pools created without one (docs/cognito.md §3.4).
_DEFAULT_PASSWORD_POLICY = PasswordPolicy(
    minimum_length=8, require_uppercase=True, require_lowercase=True, require_numbers=True, require_symbols=True
)
_STANDARD_SCHEMA: Mapping[str, dict[str, Any]] = CognitoIdpUserPoolAttribute.STANDARD_SCHEMA


def share_signing_key() -> None:
    """Import moto's fixed JWT signing key once, not on every CreateUserPool.

    CognitoIdpUserPool.__init__ (moto/cognitoidp/models.py:452-453) re-imports the same RSA key
    for each pool, ~100 ms apiece, which dominates test suites that create a pool per test.
    The key object is only read (to sign tokens), so one instance can serve every pool.
    """
    if isinstance(models.jwk, ModuleType):
        import_key = SimpleNamespace(import_key=_import_rsa_key_once)
        models.jwk = SimpleNamespace(RSAKey=import_key)  # type: ignore[assignment]


def _import_rsa_key_once(data: dict[str, Any]) -> jwk.RSAKey:
    return _import_rsa_key(json.dumps(data, sort_keys=True))


@functools.cache
def _import_rsa_key(serialized: str) -> jwk.RSAKey:
    return jwk.RSAKey.import_key(json.loads(serialized))


def _all_pools() -> Iterator[CognitoIdpUserPool]:
    # Sign-up calls are unsigned and carry no region, so like moto's RegionAgnosticBackend we
    # look in every account and region (moto/cognitoidp/models.py, RegionAgnosticBackend).
    for regions in list(cognitoidp_backends.values()):
        for backend in list(regions.values()):
            yield from list(backend.user_pools.values())


def find_pool(pool_id: str) -> CognitoIdpUserPool | None:
    return next((pool for pool in _all_pools() if pool.id == pool_id), None)


def find_app_client(client_id: str) -> tuple[CognitoIdpUserPool, CognitoIdpUserPoolClient]:
    for pool in _all_pools():
        client = pool.clients.get(client_id)
        if client is not None:
            return pool, client
    raise client_not_found(client_id)


def client_rules(client: CognitoIdpUserPoolClient) -> ClientRules:
    write_attributes = client.extended_config.get("WriteAttributes")
    return ClientRules(
        id=client.id,
        secret=client.secret if client.generate_secret else None,
        write_attributes=None if write_attributes is None else frozenset(write_attributes),
    )


def pool_rules(pool: CognitoIdpUserPool) -> PoolRules:
    config = pool.extended_config
    return PoolRules(
        id=pool.id,
        schema=_schema(pool),
        password_policy=_password_policy(config.get("Policies") or {}),
        username_attributes=frozenset(config.get("UsernameAttributes") or ()),
        alias_attributes=frozenset(config.get("AliasAttributes") or ()),
        auto_verified_attributes=frozenset(config.get("AutoVerifiedAttributes") or ()),
        # The API default when UsernameConfiguration is absent is case-sensitive (docs/cognito.md §3.3).
        case_sensitive=(config.get("UsernameConfiguration") or {}).get("CaseSensitive", True),
        admin_create_user_only=bool((config.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")),
    )


def _password_policy(policies: Mapping[str, Any]) -> PasswordPolicy:
    # moto's own check treats flags left out of a custom policy as true (models.py,
    # CognitoIdpBackend._validate_password); Cognito enforces what the pool describes.
    policy = policies.get("PasswordPolicy")
    if policy is None:
        return _DEFAULT_PASSWORD_POLICY
    return PasswordPolicy(
        minimum_length=int(policy.get("MinimumLength", _DEFAULT_PASSWORD_POLICY.minimum_length)),
        require_uppercase=bool(policy.get("RequireUppercase", False)),
        require_lowercase=bool(policy.get("RequireLowercase", False)),
        require_numbers=bool(policy.get("RequireNumbers", False)),
        require_symbols=bool(policy.get("RequireSymbols", False)),
    )


def _schema(pool: CognitoIdpUserPool) -> dict[str, AttributeSpec]:
    # A real pool always has every standard attribute; moto keeps only the listed ones when
    # CreateUserPool gets a Schema (CognitoIdpUserPool.__init__), and drops the standard
    # constraints of attributes listed without AttributeDataType (_init_constraints).
    schema = {name: _spec(name, described) for name, described in _STANDARD_SCHEMA.items()}
    for attribute in pool.schema_attributes.values():
        described = attribute.to_json()
        standard = _STANDARD_SCHEMA.get(attribute.name, {})
        for constraints in ("StringAttributeConstraints", "NumberAttributeConstraints"):
            if described.get(constraints) is None and constraints in standard:
                described[constraints] = standard[constraints]
        schema[attribute.name] = _spec(attribute.name, described)
    return schema


def _spec(name: str, described: Mapping[str, Any]) -> AttributeSpec:
    strings = described.get("StringAttributeConstraints") or {}
    numbers = described.get("NumberAttributeConstraints") or {}
    return AttributeSpec(
        name=name,
        data_type=described["AttributeDataType"],
        required=bool(described.get("Required")),
        min_length=_int_or_none(strings.get("MinLength")),
        max_length=_int_or_none(strings.get("MaxLength")),
        min_value=_int_or_none(numbers.get("MinValue")),
        max_value=_int_or_none(numbers.get("MaxValue")),
    )


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


# --- Users ---------------------------------------------------------------------------------------


def user_key(user: CognitoIdpUser) -> UserKey:
    return user.user_pool_id, user.username


def status_of(user: CognitoIdpUser) -> str:
    return UserStatus(user.status).value


def find_user(pool: CognitoIdpUserPool, rules: PoolRules, name: str) -> CognitoIdpUser | None:
    """The user `name` designates: username, a UsernameAttributes value, or a verified alias."""
    return next((user for user in _users(pool) if _answers_to(user, rules, name)), None)


def _answers_to(user: CognitoIdpUser, rules: PoolRules, name: str) -> bool:
    names: list[str | None] = [user.username]
    names += [user.attribute_lookup.get(attribute) for attribute in rules.username_attributes]
    names += [
        user.attribute_lookup.get(attribute) for attribute in rules.alias_attributes if _alias_verified(user, attribute)
    ]
    return any(rules.same_name(candidate, name) for candidate in names)


def _alias_verified(user: CognitoIdpUser, attribute: str) -> bool:
    # email and phone_number become sign-in aliases only once verified (docs/cognito.md §3.2).
    if attribute == "preferred_username":
        return True
    return user.attribute_lookup.get(f"{attribute}_verified") == "true"


def _users(pool: CognitoIdpUserPool) -> list[CognitoIdpUser]:
    return list(pool.users.values())


def describe_users(pool: CognitoIdpUserPool) -> list[dict[str, Any]]:
    """Every user of the pool in one list (ListUsers pages by 60), for load tests to count."""
    return [
        {
            "username": user.username,
            "status": status_of(user),
            "enabled": user.enabled,
            "attributes": dict(user.attribute_lookup),
            "created_at": user.create_date.isoformat(),
        }
        for user in _users(pool)
    ]


def username_taken(pool: CognitoIdpUserPool, rules: PoolRules, username: str) -> bool:
    return any(rules.same_name(user.username, username) for user in _users(pool))


def attribute_taken(pool: CognitoIdpUserPool, rules: PoolRules, attribute: str, value: str) -> bool:
    return any(rules.same_name(user.attribute_lookup.get(attribute), value) for user in _users(pool))


def verified_alias_owner(
    pool: CognitoIdpUserPool, rules: PoolRules, attribute: str, claimant: CognitoIdpUser
) -> CognitoIdpUser | None:
    value = claimant.attribute_lookup.get(attribute, "")
    return next(
        (
            user
            for user in _users(pool)
            if user is not claimant
            and _alias_verified(user, attribute)
            and rules.same_name(user.attribute_lookup.get(attribute), value)
        ),
        None,
    )


def create_user(
    pool: CognitoIdpUserPool, username: str | None, password: str | None, attributes: dict[str, str]
) -> CognitoIdpUser:
    """An UNCONFIRMED moto user; with username None moto uses the new sub as username.

    Not moto's sign_up: it would re-check the password with its own rules (at most 98
    characters, omitted flags as true) after ours (models.py, CognitoIdpBackend.sign_up).
    """
    user = CognitoIdpUser(
        user_pool_id=pool.id,
        username=username,
        password=password,
        status=UserStatus.UNCONFIRMED,
        attributes=[{"Name": name, "Value": value} for name, value in attributes.items()],
    )
    pool.users[user.username] = user
    return user


def set_verified(user: CognitoIdpUser, attribute: str, verified: bool) -> None:
    user.update_attributes([{"Name": f"{attribute}_verified", "Value": str(verified).lower()}])


def confirm_user(user: CognitoIdpUser, verified_attribute: str) -> None:
    user.status = UserStatus.CONFIRMED
    set_verified(user, verified_attribute, True)
