"""IAM users with given policies on the local Cognito, and switching its IAM enforcement on and off.

Enforcement is moto's INITIAL_NO_AUTH_ACTION_COUNT, changed at run time with POST /moto-api/reset-auth
("0": every call after this one is checked; "inf": none is). Users are made over HTTP with boto3's IAM
client while enforcement is off, as an administrator would make them.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import requests

ACCOUNT_ID = "123456789012"  # moto's default account, where keys made here live


@dataclass(frozen=True)
class Keys:
    user_name: str
    access_key_id: str
    secret_access_key: str

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT_ID}:user/{self.user_name}"

    def env(self) -> dict[str, str]:
        """The standard chain's environment variables for these keys."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}

    def client(self, base_url: str, service: str = "cognito-idp", **config: Any) -> Any:
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=base_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            **config,
        )


class IamControl:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.enforcing = False

    def _allowance(self, count: str) -> None:
        response = requests.post(f"{self.base_url}/moto-api/reset-auth", data=count.encode(), timeout=5)
        response.raise_for_status()

    def enforce(self, after: int = 0) -> None:
        """Check every call from the one after the next `after` calls."""
        self._allowance(str(after))
        self.enforcing = True

    def relax(self) -> None:
        self._allowance("inf")
        self.enforcing = False

    @contextlib.contextmanager
    def _administering(self) -> Iterator[Any]:
        """boto3's IAM client as an administrator, with enforcement off meanwhile (and back on after if it was)."""
        was_enforcing = self.enforcing
        self.relax()
        try:
            yield boto3.client(
                "iam",
                region_name="us-east-1",
                endpoint_url=self.base_url,
                aws_access_key_id="admin",
                aws_secret_access_key="admin",
            )
        finally:
            if was_enforcing:
                self.enforce()

    def user(
        self,
        policy: dict[str, Any] | None = None,
        *,
        name: str = "",
        managed: bool = False,
        groups: Sequence[str] = (),
    ) -> Keys:
        """A new IAM user with `policy` (inline, or attached as a managed policy), in `groups`, with an access key."""
        with self._administering() as iam:
            name = name or f"portal-{uuid.uuid4().hex[:8]}"
            iam.create_user(UserName=name)
            if policy is not None:
                _give_policy(iam, "User", name, policy, managed)
            for group in groups:
                iam.add_user_to_group(GroupName=group, UserName=name)
            key = iam.create_access_key(UserName=name)["AccessKey"]
            return Keys(name, key["AccessKeyId"], key["SecretAccessKey"])

    def group(self, policy: dict[str, Any], *, name: str = "", managed: bool = False) -> str:
        """A new IAM group with `policy` (inline, or attached as a managed policy); returns its name."""
        with self._administering() as iam:
            name = name or f"group-{uuid.uuid4().hex[:8]}"
            iam.create_group(GroupName=name)
            _give_policy(iam, "Group", name, policy, managed)
            return name


def _give_policy(iam: Any, kind: str, name: str, policy: dict[str, Any], managed: bool) -> None:
    """`policy` for the IAM user or group `name` (`kind` "User" or "Group"): inline, or as a managed policy."""
    document = json.dumps(policy)
    who = {f"{kind}Name": name}
    if managed:
        arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=document)["Policy"]["Arn"]
        getattr(iam, f"attach_{kind.lower()}_policy")(PolicyArn=arn, **who)
    else:
        getattr(iam, f"put_{kind.lower()}_policy")(PolicyName="portal", PolicyDocument=document, **who)


def pool_arn(pool_id: str, region: str = "us-east-1") -> str:
    return f"arn:aws:cognito-idp:{region}:{ACCOUNT_ID}:userpool/{pool_id}"


Statement = tuple[str, list[str], list[str] | str]


def allow(*statements: Statement) -> dict[str, Any]:
    """A policy document from (Sid, actions, resources) triples."""
    return _document("Allow", statements)


def deny(*statements: Statement) -> dict[str, Any]:
    """A policy document denying, from (Sid, actions, resources) triples."""
    return _document("Deny", statements)


def merged(*documents: dict[str, Any]) -> dict[str, Any]:
    """One policy document with the statements of all `documents`."""
    return {"Version": "2012-10-17", "Statement": [s for document in documents for s in document["Statement"]]}


def _document(effect: str, statements: Sequence[Statement]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": sid, "Effect": effect, "Action": actions, "Resource": resources}
            for sid, actions, resources in statements
        ],
    }


def printed_policy(*args: str) -> tuple[dict[str, Any], str]:
    """`manage.py iam_policy ARGS`: the policy (stdout, parsed) and the explanation (stderr)."""
    from django.core.management import call_command

    out, err = io.StringIO(), io.StringIO()
    call_command("iam_policy", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


def policy_actions(policy: dict[str, Any]) -> list[str]:
    """Every action the policy allows, once each, in the order of its statements."""
    actions: list[str] = []
    for statement in policy["Statement"]:
        actions += [action for action in statement["Action"] if action not in actions]
    return actions
