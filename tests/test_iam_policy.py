"""The printed IAM policy, proven against the local Cognito with IAM enforced (issue: deploying for real).

An IAM user gets exactly what `manage.py iam_policy` prints, and the portal runs with its keys from the
standard chain (the environment here): every feature works. Then, for each action of the policy, a user
without that one action: the features that need it fail with a message naming the permission (a
command error, an admin message, a finding of `portal check`) or a polite page for visitors, never a
500, and every other feature still works.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
from django.core.management import CommandError, call_command
from django.utils import timezone

from signup import cognito, operators
from signup.emulator.demo import create_demo_pool, emulator_client
from signup.models import Portal, SignupAttempt
from tests.aws_iam import policy_actions, pool_arn, printed_policy
from tests.factories import emulated_portal

pytestmark = pytest.mark.django_db

PASSWORD = "Str0ng!Passw0rd"
ATTRIBUTES = {"given_name": "Ann", "family_name": "Example"}
PERSON = {"password": PASSWORD, **ATTRIBUTES}
NOT_AVAILABLE = "Sign-up is not available right now"


def without(policy: dict, action: str) -> dict:
    """The policy with one action taken out of every statement (a statement left empty goes too)."""
    smaller = copy.deepcopy(policy)
    for statement in smaller["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != f"cognito-idp:{action}"]
    smaller["Statement"] = [s for s in smaller["Statement"] if s["Action"]]
    return smaller


def actions_in(policy: dict) -> list[str]:
    return [action.removeprefix("cognito-idp:") for action in policy_actions(policy)]


# --- The features, each run as an operator or a visitor would, each answering (worked, what was shown) ---


@dataclass(frozen=True)
class Ran:
    worked: bool
    shown: str


@dataclass
class World:
    portal: Portal
    pool: dict
    emulator: str
    client: object
    admin_client: object

    def code_for(self, username: str) -> str:
        sent = requests.get(f"{self.emulator}/_outbox", params={"username": username}, timeout=5).json()
        return sent[-1]["code"]

    def attempt(self, username: str) -> SignupAttempt:
        return SignupAttempt.objects.get(username=username)

    def sign_up(self, username: str) -> object:
        data = {**PERSON, "username": username, "email": f"{username}@example.com"}
        return self.client.post("/signup/demo/", data)

    def admin_action(self, action: str, username: str) -> Ran:
        response = self.admin_client.post(
            "/admin/signup/stuckuser/",
            {"action": action, "_selected_action": [self.attempt(username).pk]},
            follow=True,
        )
        assert response.status_code == 200
        shown = " | ".join(str(m) for m in response.context["messages"])
        errors = [m for m in response.context["messages"] if m.level_tag == "error"]
        return Ran(not errors, shown)


def command(*args: str) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as error:
        return Ran(False, f"{out.getvalue()}{err.getvalue()}{error}")
    return Ran(True, out.getvalue() + err.getvalue())


def sync(world: World) -> Ran:
    return command("portal", "sync", "demo")


def drift(world: World) -> Ran:
    page = world.admin_client.get(f"/admin/signup/portal/{world.portal.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    return Ran("None: the form matches the pool and client." in text, text)


def check(world: World) -> Ran:
    return command("portal", "check", "demo")


def signup(world: World) -> Ran:
    response = world.sign_up("zoe")
    assert response.status_code < 500
    if response.status_code == 302:
        return Ran(True, "")
    attempt = world.attempt("zoe")
    return Ran(False, f"{response.content.decode()}\nrecorded: {attempt.error_code} {attempt.error_message}")


def api_signup(world: World) -> Ran:
    body = {"username": "yann", "password": PASSWORD, "attributes": {**ATTRIBUTES, "email": "yann@example.com"}}
    response = world.client.post("/api/v1/portals/demo/signups", json.dumps(body), content_type="application/json")
    assert response.status_code < 500 or response.status_code == 503, response.content.decode()[:500]
    if response.status_code == 201:
        return Ran(True, "")
    problem = response.json()
    assert response["Content-Type"] == "application/problem+json" and response.has_header("Retry-After")
    return Ran(False, f"{problem['detail']}\nrecorded: {world.attempt('yann').error_message}")


def confirm(world: World) -> Ran:
    response = world.client.post("/signup/demo/confirm/", {"username": "carol", "code": world.code_for("carol")})
    assert response.status_code < 500
    return Ran(response.status_code == 302, response.content.decode())


def resend(world: World) -> Ran:
    before = world.code_for("dave")
    response = world.client.post("/signup/demo/confirm/", {"username": "dave", "resend": "1"})
    assert response.status_code < 500
    return Ran(world.code_for("dave") != before, response.content.decode())


def reconcile(world: World) -> Ran:
    return command("reconcile_attempts")


def look_up(world: World) -> Ran:
    return world.admin_action("look_up", "erin")


def admin_resend(world: World) -> Ran:
    return world.admin_action("resend_code", "frank")


def admin_confirm(world: World) -> Ran:
    return world.admin_action("confirm_users", "gina")


def admin_delete(world: World) -> Ran:
    return world.admin_action("delete_unconfirmed", "hank")


FEATURES: dict[str, Callable[[World], Ran]] = {
    "sync": sync,
    "drift": drift,
    "signup": signup,
    "api_signup": api_signup,
    "confirm": confirm,
    "resend": resend,
    "reconcile": reconcile,
    "look_up": look_up,
    "admin_resend": admin_resend,
    "admin_confirm": admin_confirm,
    "admin_delete": admin_delete,
    "check": check,
}
VISITORS = {"signup", "api_signup", "confirm", "resend"}

# What stops working without each action of the demo portal's policy (its client has a secret and no variable).
NEEDS = {
    "DescribeUserPool": {"sync", "drift", "check"},
    "DescribeUserPoolClient": {"sync", "drift", "check", "signup", "api_signup", "confirm", "resend", "admin_resend"},
    "AdminGetUser": {"reconcile", "look_up", "admin_delete", "check"},
    "AdminConfirmSignUp": {"admin_confirm", "check"},
    "AdminDeleteUser": {"admin_delete", "check"},
}


@pytest.fixture
def world(demo_portal, demo_pool, emulator, client, admin_client, aws_iam, monkeypatch, fresh_clients):
    """The demo portal with a user for each feature, made before IAM is enforced: carol and dave wait for
    their code, erin to hank are in the stuck-user queue, ivan's attempt is unknown and old enough to settle."""
    world = World(demo_portal, demo_pool, emulator, client, admin_client)
    for username in ("carol", "dave", "erin", "frank", "gina", "hank", "ivan"):
        assert world.sign_up(username).status_code == 302
    SignupAttempt.objects.filter(username="ivan").update(
        status=SignupAttempt.Status.UNKNOWN, created_at=timezone.now() - timedelta(hours=1)
    )
    return world


def run_as(world: World, aws_iam, monkeypatch, policy: dict) -> dict[str, Ran]:
    keys = aws_iam.user(policy)
    for name, value in keys.env().items():
        monkeypatch.setenv(name, value)
    cognito.forget_clients()  # new clients from the standard chain: these keys, and no secret kept
    aws_iam.enforce()
    return {name: feature(world) for name, feature in FEATURES.items()}


def test_the_printed_policy_names_each_feature_on_the_pool_arn_only(demo_portal, demo_pool):
    policy, explanation = printed_policy("demo")
    arn = pool_arn(demo_pool["user_pool_id"])
    assert [s["Sid"] for s in policy["Statement"]] == [
        "ReadPoolAndClient",
        "ReadClientSecret",
        "ReadUserStatus",
        "ConfirmStuckUsers",
        "DeleteStuckUsers",
    ]
    assert all(s["Effect"] == "Allow" and s["Resource"] == [arn] for s in policy["Statement"])
    assert sorted(actions_in(policy)) == sorted(NEEDS)
    assert "*" not in json.dumps(policy)
    assert "SignUp, ConfirmSignUp, ResendConfirmationCode" in explanation and "public" in explanation


def test_with_exactly_the_printed_policy_every_feature_works(world, aws_iam, monkeypatch):
    policy, _ = printed_policy("demo")
    ran = run_as(world, aws_iam, monkeypatch, policy)
    failed = {name: result.shown[-600:] for name, result in ran.items() if not result.worked}
    assert not failed
    assert world.attempt("carol").confirmed_at is not None
    assert world.attempt("ivan").status == SignupAttempt.Status.SUCCEEDED
    assert world.attempt("gina").user_confirmed and world.attempt("hank").error_code == "DeletedByOperator"
    aws_iam.relax()
    live = emulator_client(world.emulator).list_users(UserPoolId=world.pool["user_pool_id"])["Users"]
    assert "hank" not in {user["Username"] for user in live}


@pytest.mark.parametrize("action", sorted(NEEDS))
def test_without_one_action_only_the_features_that_need_it_fail_and_they_say_so(world, aws_iam, monkeypatch, action):
    policy, _ = printed_policy("demo")
    assert action in actions_in(policy)
    ran = run_as(world, aws_iam, monkeypatch, without(policy, action))
    failed = {name for name, result in ran.items() if not result.worked}
    assert failed == NEEDS[action], {name: ran[name].shown[-400:] for name in failed ^ NEEDS[action]}
    permission = f"cognito-idp:{action}"
    for name in NEEDS[action] - VISITORS:
        assert permission in ran[name].shown, (name, ran[name].shown[-600:])
    for name in NEEDS[action] & VISITORS:
        assert NOT_AVAILABLE in ran[name].shown and permission not in ran[name].shown.split("\nrecorded:")[0]
    if "signup" in NEEDS[action]:
        assert permission in world.attempt("zoe").error_message  # for the operator, in the log
        assert permission in world.attempt("yann").error_message


def test_the_policy_of_one_portal_does_not_open_another_pool(world, aws_iam, monkeypatch, emulator):
    other_pool = create_demo_pool(emulator_client(emulator))
    emulated_portal("other", other_pool, emulator)
    policy, _ = printed_policy("demo")
    run_as(world, aws_iam, monkeypatch, policy)
    refused = command("portal", "sync", "other")
    assert not refused.worked
    assert "cognito-idp:DescribeUserPool" in refused.shown
    assert command("portal", "sync", "demo").worked


def test_a_feature_left_out_is_named_when_used(world, aws_iam, monkeypatch):
    policy, explanation = printed_policy("demo", "--omit", "ConfirmStuckUsers", "DeleteStuckUsers")
    assert "AdminConfirmSignUp" not in json.dumps(policy) and "AdminDeleteUser" not in json.dumps(policy)
    assert "ConfirmStuckUsers: left out" in explanation
    ran = run_as(world, aws_iam, monkeypatch, policy)
    assert {name for name, result in ran.items() if not result.worked} == {"admin_confirm", "admin_delete", "check"}
    assert "cognito-idp:AdminConfirmSignUp" in ran["admin_confirm"].shown
    assert command("portal", "check", "demo", "--omit", "ConfirmStuckUsers", "DeleteStuckUsers").worked


def test_failure_text_names_the_permission_only_when_that_is_the_reason():
    denied = cognito.CognitoError(
        "AccessDeniedException", "User: x is not authorized", permission="cognito-idp:AdminGetUser"
    )
    assert "cognito-idp:AdminGetUser" in operators.failure_text(denied)
    assert "iam_policy" in operators.failure_text(denied)
    assert operators.failure_text(cognito.CognitoError("TooManyRequestsException", "Rate exceeded")) == (
        "TooManyRequestsException"
    )


def test_the_deploy_guide_shows_the_same_features_and_policy():
    import re
    from pathlib import Path

    from signup import permissions

    guide = (Path(__file__).resolve().parent.parent / "docs" / "deploy.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| ((?:`cognito-idp:\w+`(?:, )?)+) \|", guide, flags=re.M)
    assert [(sid, re.findall(r"cognito-idp:\w+", actions)) for sid, actions in rows] == [
        (feature.sid, feature.permissions) for feature in permissions.FEATURES
    ]
    example = json.loads(re.search(r"```json\n(\{\n  \"Version\".*?)```", guide, flags=re.S).group(1))
    assert [(s["Sid"], s["Action"]) for s in example["Statement"]] == [
        (feature.sid, feature.permissions) for feature in permissions.FEATURES
    ]
