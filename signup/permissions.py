"""The least-privilege IAM policy of the portal's AWS identity: which feature calls which action, on which
pools (docs/deploy.md shows the policy; docs/cognito.md §2.6 says how Cognito checks it).

SignUp, ConfirmSignUp and ResendConfirmationCode are public: Cognito applies no IAM to them and the
portal sends them unsigned, so no statement names them. Every other call the portal makes is here,
in one feature each, and the statements allow those actions on the portals' pool ARNs only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import Portal

PUBLIC_CALLS = ("SignUp", "ConfirmSignUp", "ResendConfirmationCode")


def _always(portal: Portal) -> bool:
    return True


def _reads_its_secret(portal: Portal) -> bool:
    """A client with a secret (or one not synced yet, so not known not to have one) and no variable for it."""
    return not portal.client_secret_env and bool((portal.snapshot or {}).get("has_secret", True))


@dataclass(frozen=True)
class Feature:
    sid: str
    actions: tuple[str, ...]
    purpose: str | Promise
    needed_by: Callable[[Portal], bool] = field(default=_always)

    @property
    def permissions(self) -> list[str]:
        return [f"cognito-idp:{action}" for action in self.actions]


FEATURES = (
    Feature(
        "ReadPoolAndClient",
        ("DescribeUserPool", "DescribeUserPoolClient"),
        _(
            "building the form from the pool's schema (portal add and sync, admin's Sync from Cognito), "
            "schema drift in admin, and portal check"
        ),
    ),
    Feature(
        "ReadClientSecret",
        ("DescribeUserPoolClient",),
        _(
            "the app client's secret for SecretHash, read once per process (only portals whose client has a "
            "secret and no client-secret variable)"
        ),
        _reads_its_secret,
    ),
    Feature(
        "ReadUserStatus",
        ("AdminGetUser",),
        _(
            "reconcile_attempts, the stuck-user queue's look-up and its check before a delete, and the check "
            "when a SignUp that got no answer is tried again"
        ),
    ),
    Feature("ConfirmStuckUsers", ("AdminConfirmSignUp",), _("the stuck-user action “Confirm the user”")),
    Feature(
        "DeleteStuckUsers", ("AdminDeleteUser",), _("the stuck-user action “Delete the unconfirmed user in Cognito”")
    ),
)
SIDS = tuple(feature.sid for feature in FEATURES)


class UnknownArn(Exception):
    """A portal never synced (or not since its pool changed), with no account id given: its pool's ARN
    cannot be written."""

    def __init__(self, portal: Portal):
        super().__init__(
            f"{portal.slug}: the pool's ARN is not known until the portal is synced; "
            "sync it, or give the AWS account id (--account-id)"
        )
        self.portal = portal


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _built_arn(portal: Portal, account_id: str) -> str:
    return f"arn:{partition(portal.region)}:cognito-idp:{portal.region}:{account_id}:userpool/{portal.user_pool_id}"


def pool_arn(portal: Portal, account_id: str = "") -> str:
    """The pool's ARN as DescribeUserPool gave it at the last sync, else built from the account id.

    The synced ARN counts only while it is still this portal's pool: admin lets the pool id (and region) be
    changed without a sync, and a policy on the old pool's ARN would open the wrong pool and not this one."""
    known = str((portal.snapshot or {}).get("pool_arn") or "")
    parts = known.split(":")
    if len(parts) == 6 and known == _built_arn(portal, parts[4]):
        return known
    if not account_id:
        raise UnknownArn(portal)
    return _built_arn(portal, account_id)


def features_for(portal: Portal, omit: Iterable[str] = ()) -> list[Feature]:
    left_out = set(omit)
    return [feature for feature in FEATURES if feature.sid not in left_out and feature.needed_by(portal)]


def policy(portals: Iterable[Portal], *, omit: Iterable[str] = (), account_id: str = "") -> dict[str, Any]:
    """The IAM policy document for these portals: one statement per feature some portal needs, on the
    ARNs of the pools that need it. UnknownArn when a pool's ARN cannot be written."""
    left_out = tuple(omit)
    resources: dict[str, set[str]] = {}
    for portal in portals:
        arn = pool_arn(portal, account_id)
        for feature in features_for(portal, left_out):
            resources.setdefault(feature.sid, set()).add(arn)
    statements = [
        {
            "Sid": feature.sid,
            "Effect": "Allow",
            "Action": feature.permissions,
            "Resource": sorted(resources[feature.sid]),
        }
        for feature in FEATURES
        if feature.sid in resources
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def needs(portal: Portal, omit: Iterable[str] = ()) -> dict[str, list[Feature]]:
    """Each IAM action this portal's features call, with the features that call it, in policy order."""
    actions: dict[str, list[Feature]] = {}
    for feature in features_for(portal, omit):
        for action in feature.actions:
            actions.setdefault(action, []).append(feature)
    return actions
