"""Before going live: `manage.py portal check`, admin's "Check before going live" and `manage.py iam_policy`.

The check runs against the local Cognito with IAM enforcement off (tests/test_iam_policy.py proves the
policy with it on): each case below breaks one thing a portal needs and looks for the one finding that
names it, and for the exit status an operator's script would read.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
import requests
from django.core.management import CommandError, call_command
from django.utils.html import escape

from signup import cognito, preflight
from signup.emulator.demo import create_demo_pool, emulator_client
from signup.management.commands.portal import Command as PortalCommand
from signup.models import Portal
from tests.aws_iam import policy_actions, pool_arn, printed_policy
from tests.factories import describe_client, describe_pool, emulated_portal, make_portal, snapshot

pytestmark = pytest.mark.django_db

CHECK_PREFIX = "signup-portal-check-"


@dataclass(frozen=True)
class Checked:
    status: int  # what the shell would see: 0, or the CommandError's return code
    lines: list[str]
    error: str

    def levels(self, slug: str = "demo") -> list[str]:
        return [line.removeprefix(f"{slug}: ").split(" ", 1)[0] for line in self.lines if line.startswith(f"{slug}: ")]

    def at(self, level: str, slug: str = "demo") -> list[str]:
        """The texts of the findings at `level`, without the slug and level."""
        prefix = f"{slug}: {level:<4} "
        return [line.removeprefix(prefix) for line in self.lines if line.startswith(prefix)]


def check(*args: str) -> Checked:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("portal", "check", *args, stdout=out, stderr=err)
    except CommandError as error:
        return Checked(error.returncode, out.getvalue().splitlines(), str(error))
    return Checked(0, out.getvalue().splitlines(), err.getvalue())


def live_users(emulator: str, pool_id: str) -> list[dict]:
    response = requests.get(f"{emulator}/_users", params={"user_pool_id": pool_id}, timeout=5)
    response.raise_for_status()
    return response.json()["users"]


def resync(portal: Portal) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("portal", "sync", portal.slug, stdout=out, stderr=err)
    assert not err.getvalue(), err.getvalue()


# --- portal check -------------------------------------------------------------------------------


def test_a_healthy_portal_is_all_ok_with_each_permission_of_its_policy_allowed_on_the_pool(demo_portal, demo_pool):
    checked = check("demo")
    findings = preflight.portal_check(portal=Portal.objects.get(slug="demo"))
    assert checked.status == 0, checked.lines
    assert checked.lines == [f"demo: {finding.level:<4} {finding.text}" for finding in findings]
    assert set(checked.levels()) == {"ok"}
    arn = pool_arn(demo_pool["user_pool_id"])
    policy, _ = printed_policy("demo")
    assert len(policy_actions(policy)) == 5
    for permission in policy_actions(policy):
        assert f"{permission} is allowed on {arn}." in checked.at("ok")
    allowed = [text for text in checked.at("ok") if " is allowed on " in text]
    assert len(allowed) == len(policy_actions(policy))  # each once, though two features call DescribeUserPoolClient
    assert "The form matches the pool and the client." in checked.at("ok")
    assert "The client secret is read with DescribeUserPoolClient." in checked.at("ok")


def test_no_portals_is_said_and_is_no_failure(db):
    checked = check()
    assert checked.status == 0
    assert checked.lines == ["No portals yet: nothing to check (add one with python manage.py portal add)."]


def test_an_unknown_slug_is_an_error(demo_portal):
    checked = check("nope")
    assert checked.status != 0 and "No portal 'nope'" in checked.error


def test_a_pool_that_does_not_exist_is_one_failure_in_cognitos_words(demo_portal):
    Portal.objects.filter(slug="demo").update(user_pool_id="us-east-1_DoesNotExist")
    checked = check("demo")
    assert checked.status != 0
    fails = checked.at("fail")
    assert len(fails) == 1, checked.lines
    assert fails[0].startswith("Cognito says: ") and "us-east-1_DoesNotExist" in fails[0]
    assert not any("cognito-idp:" in line for line in checked.lines)  # nothing was proven on a pool that is not there
    assert not any("schema" in line for line in checked.lines)
    assert "1 finding(s) to fix" in checked.error


def test_a_pool_that_does_not_exist_still_has_its_secret_variable_checked(demo_portal, monkeypatch):
    monkeypatch.setenv("DEMO_CLIENT_SECRET", "")
    Portal.objects.filter(slug="demo").update(
        user_pool_id="us-east-1_DoesNotExist", client_secret_env="DEMO_CLIENT_SECRET"
    )
    checked = check("demo")
    assert checked.at("fail") == [
        "Cognito says: User pool us-east-1_DoesNotExist does not exist.",
        "The client secret is not reachable: environment variable DEMO_CLIENT_SECRET is empty.",
    ]


def test_an_app_client_that_does_not_exist_fails_and_the_other_permissions_are_still_reported(demo_portal, demo_pool):
    Portal.objects.filter(slug="demo").update(client_id="nosuchclient0000000000000")
    checked = check("demo")
    assert checked.status != 0
    fails = checked.at("fail")
    assert len(fails) == 1, checked.lines
    assert fails[0].startswith("Cognito says: ") and "nosuchclient0000000000000" in fails[0]
    arn = pool_arn(demo_pool["user_pool_id"])
    for action in ("DescribeUserPool", "AdminGetUser", "AdminConfirmSignUp", "AdminDeleteUser"):
        assert f"cognito-idp:{action} is allowed on {arn}." in checked.at("ok")
    assert not any("DescribeUserPoolClient is allowed" in line for line in checked.lines)


def test_schema_drift_is_a_failure_per_change_until_the_portal_is_synced(demo_portal, demo_pool, emulator):
    cognito_admin = emulator_client(emulator)
    cognito_admin.add_custom_attributes(
        UserPoolId=demo_pool["user_pool_id"],
        CustomAttributes=[{"Name": "team", "AttributeDataType": "String", "Mutable": True}],
    )
    client = cognito_admin.describe_user_pool_client(
        UserPoolId=demo_pool["user_pool_id"], ClientId=demo_pool["client_id"]
    )
    write = [name for name in client["UserPoolClient"]["WriteAttributes"] if name != "birthdate"]
    cognito_admin.update_user_pool_client(
        UserPoolId=demo_pool["user_pool_id"],
        ClientId=demo_pool["client_id"],
        WriteAttributes=write,
        ReadAttributes=client["UserPoolClient"]["ReadAttributes"],
    )
    checked = check("demo")
    assert checked.status != 0
    hint = "(python manage.py portal sync demo)"
    assert sorted(checked.at("fail")) == sorted(
        [
            f"Changed in Cognito since the last sync: new attribute custom:team {hint}.",
            f"Changed in Cognito since the last sync: client may no longer write birthdate {hint}.",
        ]
    ), checked.lines
    assert "2 finding(s)" in checked.error
    assert "The form matches the pool and the client." not in checked.at("ok")

    resync(demo_portal)
    checked = check("demo")
    assert checked.status == 0, checked.lines
    assert set(checked.levels()) == {"ok"}
    assert "The form matches the pool and the client." in checked.at("ok")


def test_a_pool_where_only_administrators_create_users_fails(demo_portal, demo_pool, emulator):
    emulator_client(emulator).update_user_pool(
        UserPoolId=demo_pool["user_pool_id"], AdminCreateUserConfig={"AllowAdminCreateUserOnly": True}
    )
    resync(demo_portal)  # so that the only failure left is the pool's setting, not its drift
    checked = check("demo")
    assert checked.status != 0
    assert checked.at("fail") == ["The pool lets only administrators create users: Cognito refuses every SignUp."]


@pytest.mark.parametrize("omit", [[], ["--omit", "ReadPoolAndClient"]], ids=["all", "pool-not-read"])
def test_a_portal_never_synced_fails_with_the_sync_hint(demo_pool, emulator, omit):
    emulated_portal("fresh", demo_pool, emulator)
    checked = check("fresh", *omit)
    assert checked.status != 0
    assert checked.at("fail", "fresh") == ["Never synced, so there is no form: run python manage.py portal sync fresh."]
    # Without a sync the ARN is not known; the pool is named by its id instead.
    assert f"cognito-idp:AdminGetUser is allowed on the pool {demo_pool['user_pool_id']}." in checked.at("ok", "fresh")


def test_a_client_secret_from_a_variable_that_is_set_is_ok_and_names_it(demo_portal, demo_pool, monkeypatch):
    monkeypatch.setenv("DEMO_CLIENT_SECRET", demo_pool["client_secret"])
    Portal.objects.filter(slug="demo").update(client_secret_env="DEMO_CLIENT_SECRET")
    checked = check("demo")
    assert checked.status == 0, checked.lines
    assert "The client secret comes from the variable DEMO_CLIENT_SECRET." in checked.at("ok")


def test_a_client_secret_variable_that_is_empty_fails(demo_portal, monkeypatch):
    monkeypatch.setenv("DEMO_CLIENT_SECRET", "")
    monkeypatch.delenv("DEMO_CLIENT_SECRET_FILE", raising=False)
    Portal.objects.filter(slug="demo").update(client_secret_env="DEMO_CLIENT_SECRET")
    checked = check("demo")
    assert checked.status != 0
    assert checked.at("fail") == [
        "The client secret is not reachable: environment variable DEMO_CLIENT_SECRET is empty."
    ]


def test_a_client_without_a_secret_is_ok(demo_pool, emulator):
    app = emulator_client(emulator).create_user_pool_client(
        UserPoolId=demo_pool["user_pool_id"], ClientName="public", GenerateSecret=False
    )["UserPoolClient"]
    call_command(
        "portal",
        "add",
        "public",
        "--user-pool-id",
        demo_pool["user_pool_id"],
        "--client-id",
        app["ClientId"],
        "--endpoint-url",
        emulator,
        "--challenge",
        "off",
        stdout=io.StringIO(),
    )
    checked = check("public")
    assert checked.status == 0, checked.lines
    assert "The app client has no secret." in checked.at("ok", "public")
    assert not any("secret is" in line for line in checked.lines)


def test_a_closed_portal_is_only_a_warning(demo_portal):
    Portal.objects.filter(slug="demo").update(is_open=False)
    checked = check("demo")
    assert checked.status == 0, checked.lines
    assert checked.at("warn") == ["The portal is closed to sign-ups (python manage.py portal update demo --open)."]
    assert set(checked.levels()) == {"ok", "warn"}


@pytest.mark.parametrize("field", ["embed_origins", "api_origins"])
def test_in_production_an_http_origin_fails_and_names_it(demo_portal, settings, field):
    settings.PRODUCTION = True
    Portal.objects.filter(slug="demo").update(**{field: ["https://good.example.com", "http://plain.example.com"]})
    checked = check("demo")
    assert checked.status != 0
    assert checked.at("fail") == [
        "http://plain.example.com is not an https origin: in production only https sites may frame or call the portal."
    ]
    assert "Every embed and API origin uses https." not in checked.at("ok")


def test_in_production_https_origins_are_ok(demo_portal, settings):
    settings.PRODUCTION = True
    Portal.objects.filter(slug="demo").update(
        embed_origins=["https://www.example.com"], api_origins=["https://app.example.com"]
    )
    checked = check("demo")
    assert checked.status == 0, checked.lines
    assert "Every embed and API origin uses https." in checked.at("ok")


def test_outside_production_origins_are_not_checked(demo_portal, settings):
    settings.PRODUCTION = False
    Portal.objects.filter(slug="demo").update(embed_origins=["http://localhost:8080"])
    checked = check("demo")
    assert checked.status == 0, checked.lines
    assert not any("origin" in line for line in checked.lines)


@pytest.mark.parametrize(
    ("challenge", "variable"), [("turnstile", "TURNSTILE_SECRET_KEY"), ("hcaptcha", "HCAPTCHA_SECRET_KEY")]
)
def test_a_challenge_without_its_site_key_or_secret_fails(demo_portal, monkeypatch, challenge, variable):
    monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv(f"{variable}_FILE", raising=False)
    Portal.objects.filter(slug="demo").update(challenge=challenge, challenge_site_key="")
    checked = check("demo")
    assert checked.status != 0
    assert checked.at("fail") == [
        "The challenge has no site key: the widget cannot be shown.",
        f"The challenge's secret ({variable}) is empty: every sign-up would be refused.",
    ]

    monkeypatch.setenv(variable, "0x0000000000000000000000000000000AA")
    Portal.objects.filter(slug="demo").update(challenge_site_key="1x00000000000000000000AA")
    assert check("demo").status == 0


def test_a_challenge_secret_variable_of_the_portals_own_that_is_empty_fails(demo_portal, monkeypatch):
    monkeypatch.setenv("TURNSTILE_SECRET_KEY", "the default variable is set")
    monkeypatch.setenv("ACME_TURNSTILE", "")
    Portal.objects.filter(slug="demo").update(
        challenge="turnstile", challenge_site_key="1x00000000000000000000AA", challenge_secret_env="ACME_TURNSTILE"
    )
    checked = check("demo")
    assert checked.at("fail") == ["The challenge's secret (ACME_TURNSTILE) is empty: every sign-up would be refused."]


def test_altcha_needs_no_site_key_or_secret(demo_portal):
    Portal.objects.filter(slug="demo").update(challenge="altcha")
    assert check("demo").status == 0


def test_a_feature_left_out_is_not_probed(demo_portal, monkeypatch):
    probed: list[str] = []
    real = cognito.probe

    def spy(target, action):
        probed.append(action)
        return real(target, action)

    monkeypatch.setattr(cognito, "probe", spy)
    checked = check("demo", "--omit", "ConfirmStuckUsers")
    assert checked.status == 0, checked.lines
    assert "AdminConfirmSignUp" not in probed
    assert sorted(probed) == sorted(["DescribeUserPool", "DescribeUserPoolClient", "AdminGetUser", "AdminDeleteUser"])
    assert not any("AdminConfirmSignUp" in line for line in checked.lines)
    assert any("cognito-idp:AdminDeleteUser is allowed" in line for line in checked.lines)


def test_leaving_out_the_pool_reads_says_the_schema_was_not_compared(demo_portal):
    checked = check("demo", "--omit", "ReadPoolAndClient")
    assert checked.at("warn") == ["The pool's schema was not compared with the form: ReadPoolAndClient is left out."]
    assert not any("DescribeUserPool is allowed" in line for line in checked.lines)
    # The client's secret is still read with DescribeUserPoolClient, so that one is still proven.
    assert any("DescribeUserPoolClient is allowed" in line for line in checked.lines)


def test_an_unknown_feature_to_leave_out_is_a_usage_error(demo_portal, capsys):
    checked = check("demo", "--omit", "ConfirmEveryone")
    assert checked.status != 0 and "invalid choice: 'ConfirmEveryone'" in checked.error
    assert checked.lines == []  # refused before anything was checked
    with pytest.raises(SystemExit) as exited:
        PortalCommand().run_from_argv(["manage.py", "portal", "check", "demo", "--omit", "ConfirmEveryone"])
    assert exited.value.code == 2
    assert "ConfirmStuckUsers" in capsys.readouterr().err  # the choices are listed


# --- admin's "Check before going live" ----------------------------------------------------------


def run_admin_check(admin_client, portals):
    return admin_client.post(
        "/admin/signup/portal/",
        {"action": "check_before_going_live", "_selected_action": [portal.pk for portal in portals]},
    )


def test_the_admin_action_shows_a_ready_portals_findings(admin_client, demo_portal):
    response = run_admin_check(admin_client, [demo_portal])
    assert response.status_code == 200
    page = response.content.decode()
    for finding in preflight.portal_check(portal=demo_portal):
        assert escape(finding.text) in page
    assert "ready" in page and "to fix" not in page


def test_the_admin_action_shows_each_selected_portal_with_its_count_of_things_to_fix(
    admin_client, demo_portal, settings
):
    settings.PRODUCTION = True
    Portal.objects.create(
        slug="draft",
        name="Draft",
        user_pool_id=demo_portal.user_pool_id,
        client_id=demo_portal.client_id,
        endpoint_url=demo_portal.endpoint_url,
        challenge="off",
        embed_origins=["http://www.example.com"],
    )
    response = run_admin_check(admin_client, Portal.objects.order_by("slug"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<code>demo</code>:\n  ready" in page
    assert "<code>draft</code>:\n  2 things to fix" in page  # never synced, and an http origin
    assert "http://www.example.com is not an https origin" in page
    assert escape("Never synced, so there is no form: run python manage.py portal sync draft.") in page


@pytest.fixture
def unreachable(db, settings):
    """A synced portal whose Cognito endpoint is a closed port on this machine."""
    settings.COGNITO_CONNECT_TIMEOUT = settings.COGNITO_READ_TIMEOUT = 0.5
    return make_portal(
        "gone",
        endpoint_url="http://127.0.0.1:9",
        client_secret_env="",
        snap=snapshot(describe_pool(Arn=pool_arn("us-east-1_Example1"))),
    )


def test_an_unreachable_cognito_is_a_findings_page_not_an_error(admin_client, unreachable):
    response = run_admin_check(admin_client, [unreachable])
    assert response.status_code == 200
    page = response.content.decode()
    assert "cognito-idp:DescribeUserPool could not be checked: EndpointConnectionError." in page
    assert "things to fix" in page


def test_an_unreachable_cognito_is_failure_lines_from_the_command(unreachable):
    checked = check("gone")
    assert checked.status != 0
    fails = checked.at("fail", "gone")
    assert "cognito-idp:DescribeUserPool could not be checked: EndpointConnectionError." in fails
    assert all(line.startswith("gone: ") for line in checked.lines)
    assert "Traceback" not in "\n".join(checked.lines)
    assert checked.at("warn", "gone") == [
        "Which AWS identity runs this check is unknown (EndpointConnectionError); the permissions below are its.",
        "The pool's schema was not compared with the form: it cannot be read.",
    ]


def test_a_check_changes_nothing_in_cognito(demo_portal, demo_pool, emulator, monkeypatch):
    pool_id = demo_pool["user_pool_id"]
    cognito_admin = emulator_client(emulator)
    cognito_admin.admin_create_user(UserPoolId=pool_id, Username="alice", MessageAction="SUPPRESS")
    cognito_admin.sign_up(
        ClientId=demo_pool["client_id"],
        Username="bob",
        Password="Str0ng!Passw0rd",
        SecretHash=cognito.secret_hash("bob", demo_pool["client_id"], demo_pool["client_secret"]),
        UserAttributes=[
            {"Name": "email", "Value": "bob@example.com"},
            {"Name": "given_name", "Value": "Bob"},
            {"Name": "family_name", "Value": "Example"},
        ],
    )
    sent: list[str] = []
    real = cognito._send

    def spy(client, operation, **params):
        if "Username" in params:
            sent.append(params["Username"])
        return real(client, operation, **params)

    monkeypatch.setattr(cognito, "_send", spy)
    before = live_users(emulator, pool_id)
    assert check("demo").status == 0
    after = live_users(emulator, pool_id)
    assert after == before
    assert {user["username"] for user in after} == {"alice", "bob"}
    assert len(sent) == 3 and all(name.startswith(CHECK_PREFIX) for name in sent)  # the three Admin* probes
    assert len(set(sent)) == 3
    assert not any(CHECK_PREFIX in json.dumps(user) for user in after)


# --- iam_policy ---------------------------------------------------------------------------------


def test_an_unknown_slug_is_named(demo_portal):
    with pytest.raises(CommandError, match="No portal ghost, nope"):
        printed_policy("demo", "nope", "ghost")


def test_no_portals_is_an_error(db):
    with pytest.raises(CommandError, match="no portals yet"):
        printed_policy()


def test_a_portal_never_synced_needs_the_account_id(db):
    make_portal("fresh", snap={}, synced_at=None, client_secret_env="")
    with pytest.raises(CommandError, match=r"fresh: .*sync it, or give the AWS account id \(--account-id\)"):
        printed_policy("fresh")
    policy, _ = printed_policy("fresh", "--account-id", "111122223333")
    arn = "arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Example1"
    assert {tuple(statement["Resource"]) for statement in policy["Statement"]} == {(arn,)}
    # Not synced, so not known to have no secret: its read is in the policy.
    assert "ReadClientSecret" in [statement["Sid"] for statement in policy["Statement"]]


@pytest.mark.parametrize("account_id", ["11112222333", "1111222233334", "abcdefghijkl", "1111-2222-3333"])
def test_a_bad_account_id_is_an_error(db, account_id):
    make_portal("fresh", snap={}, synced_at=None)
    with pytest.raises(CommandError, match="12-digit"):
        printed_policy("--account-id", account_id)


@pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("eu-west-1", "aws")]
)
def test_the_built_arn_has_the_regions_partition(db, region, partition):
    make_portal("far", snap={}, synced_at=None, region=region, user_pool_id=f"{region}_Example1")
    policy, _ = printed_policy("far", "--account-id", "111122223333")
    arn = f"arn:{partition}:cognito-idp:{region}:111122223333:userpool/{region}_Example1"
    assert all(statement["Resource"] == [arn] for statement in policy["Statement"])


def test_a_synced_portals_arn_is_the_one_cognito_gave(demo_portal, demo_pool):
    policy, _ = printed_policy("demo", "--account-id", "111122223333")
    assert all(statement["Resource"] == [pool_arn(demo_pool["user_pool_id"])] for statement in policy["Statement"])


ARN_A = "arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_Aaaa"
ARN_Z = "arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Zzzz"


def portal_on(slug: str, arn: str, **fields) -> Portal:
    region, pool_id = arn.split(":")[3], arn.rsplit("/", 1)[1]
    return make_portal(
        slug,
        snap=snapshot(describe_pool(Id=pool_id, Arn=arn), fields.pop("client", None)),
        region=region,
        user_pool_id=pool_id,
        **fields,
    )


def test_two_pools_are_each_statements_resources_sorted_and_once(db):
    portal_on("zed", ARN_Z)
    portal_on("alpha", ARN_A)
    portal_on("zed-too", ARN_Z)  # a second portal on the first pool
    policy, _ = printed_policy()
    assert [statement["Sid"] for statement in policy["Statement"]] == [
        "ReadPoolAndClient",
        "ReadUserStatus",
        "ConfirmStuckUsers",
        "DeleteStuckUsers",
    ]
    for statement in policy["Statement"]:
        assert statement["Resource"] == [ARN_A, ARN_Z]
    named, _ = printed_policy("zed", "zed-too")
    assert all(statement["Resource"] == [ARN_Z] for statement in named["Statement"])


def test_the_secret_is_read_only_on_the_pools_of_portals_that_need_it(db):
    portal_on("from-variable", ARN_Z, client_secret_env="ZED_CLIENT_SECRET")
    portal_on("no-secret", ARN_Z, client_secret_env="", client=describe_client(secret=None))
    portal_on("reads-it", ARN_A, client_secret_env="")

    policy, _ = printed_policy("from-variable", "no-secret")
    assert "ReadClientSecret" not in [statement["Sid"] for statement in policy["Statement"]]
    assert [action for action in policy_actions(policy) if action.endswith("DescribeUserPoolClient")] == [
        "cognito-idp:DescribeUserPoolClient"
    ]

    policy, explanation = printed_policy()
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert statements["ReadClientSecret"]["Resource"] == [ARN_A]
    assert statements["ReadClientSecret"]["Action"] == ["cognito-idp:DescribeUserPoolClient"]
    assert statements["ReadPoolAndClient"]["Resource"] == [ARN_A, ARN_Z]
    assert "ReadClientSecret: cognito-idp:DescribeUserPoolClient" in explanation


def test_quiet_prints_only_the_policy_and_stdout_is_always_json(db):
    portal_on("zed", ARN_Z)
    out, err = io.StringIO(), io.StringIO()
    call_command("iam_policy", "--quiet", stdout=out, stderr=err)
    assert err.getvalue() == ""
    quiet = json.loads(out.getvalue())

    out, err = io.StringIO(), io.StringIO()
    call_command("iam_policy", "--omit", "ConfirmStuckUsers", "DeleteStuckUsers", stdout=out, stderr=err)
    loud = json.loads(out.getvalue())
    assert [statement["Sid"] for statement in loud["Statement"]] == ["ReadPoolAndClient", "ReadUserStatus"]
    assert [statement["Sid"] for statement in quiet["Statement"]][:2] == ["ReadPoolAndClient", "ReadUserStatus"]
    explanation = err.getvalue()
    assert "SignUp, ConfirmSignUp, ResendConfirmationCode" in explanation and "public calls" in explanation
    assert "ConfirmStuckUsers: left out (--omit)" in explanation
    assert "DeleteStuckUsers: left out (--omit)" in explanation
    assert "ReadUserStatus: cognito-idp:AdminGetUser, for " in explanation
    assert "ConfirmStuckUsers: cognito-idp" not in explanation


def test_the_policy_is_the_same_with_and_without_the_explanation(demo_portal):
    quiet_out, loud_out = io.StringIO(), io.StringIO()
    call_command("iam_policy", "demo", "--quiet", stdout=quiet_out, stderr=io.StringIO())
    call_command("iam_policy", "demo", stdout=loud_out, stderr=io.StringIO())
    assert json.loads(quiet_out.getvalue()) == json.loads(loud_out.getvalue())


def test_a_portal_pointed_at_another_pool_is_not_given_the_old_pools_arn(demo_portal, demo_pool, emulator):
    other = create_demo_pool(emulator_client(emulator))
    Portal.objects.filter(slug="demo").update(user_pool_id=other["user_pool_id"], client_id=other["client_id"])
    policy, _ = printed_policy("demo", "--account-id", "123456789012")
    assert all(statement["Resource"] == [pool_arn(other["user_pool_id"])] for statement in policy["Statement"])
    with pytest.raises(CommandError, match="--account-id"):
        printed_policy("demo")
    checked = check("demo")
    assert f"cognito-idp:DescribeUserPool is allowed on the pool {other['user_pool_id']}." in checked.at("ok")
    assert not any(pool_arn(demo_pool["user_pool_id"]) in line for line in checked.lines)


def test_the_checks_dry_calls_are_not_counted_as_the_portals_cognito_errors(demo_portal):
    from prometheus_client import REGISTRY

    def errors(operation: str) -> float:
        labels = {"operation": operation, "code": "UserNotFoundException"}
        return REGISTRY.get_sample_value("signup_cognito_errors_total", labels) or 0.0

    before = {op: errors(op) for op in ("admin_get_user", "admin_confirm_sign_up", "admin_delete_user")}
    findings = preflight.portal_check(portal=demo_portal)
    assert all(f.level == "ok" for f in findings), findings
    assert {op: errors(op) for op in before} == before
    # The portal's own calls are still counted: an operator's look-up of a missing user is an error.
    with pytest.raises(cognito.CognitoError):
        cognito.admin_get_user(demo_portal.target, "nobody-at-all")
    assert errors("admin_get_user") == before["admin_get_user"] + 1


# --- What the review asked for: no credentials, never synced with features left out, a wrong secret ---------


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """The standard chain finds nothing: no keys, no profile files, no instance metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    cognito.forget_clients()
    yield
    cognito.forget_clients()


def test_without_aws_credentials_the_check_says_so_once_and_fails(demo_portal, no_aws_credentials):
    checked = check("demo")
    assert checked.status != 0 and "Traceback" not in "\n".join(checked.lines)
    [fail] = checked.at("fail")
    assert fail.startswith("No AWS credentials") and "role" in fail


def test_without_aws_credentials_admin_answers_with_words_not_a_500(demo_portal, no_aws_credentials, admin_client):
    page = admin_client.post(
        "/admin/signup/portal/", {"action": "check_before_going_live", "_selected_action": [demo_portal.pk]}
    )
    assert page.status_code == 200 and "No AWS credentials" in page.content.decode()
    change = admin_client.get(f"/admin/signup/portal/{demo_portal.pk}/change/")
    assert change.status_code == 200 and "found no AWS credentials" in change.content.decode()
    synced = io.StringIO()
    with pytest.raises(CommandError):
        call_command("portal", "sync", "demo", stdout=io.StringIO(), stderr=synced)
    assert "found no AWS credentials" in synced.getvalue()


def test_a_variable_holding_another_secret_fails_and_the_right_one_passes(demo_portal, demo_pool, monkeypatch):
    Portal.objects.filter(slug="demo").update(client_secret_env="DEMO_CLIENT_SECRET")
    monkeypatch.setenv("DEMO_CLIENT_SECRET", "not-the-secret")
    wrong = check("demo")
    assert wrong.status != 0
    assert wrong.at("fail") == [
        "The variable DEMO_CLIENT_SECRET does not hold the app client's secret: Cognito would refuse every sign-up."
    ]
    assert "not-the-secret" not in "\n".join(wrong.lines) and demo_pool["client_secret"] not in "\n".join(wrong.lines)
    monkeypatch.setenv("DEMO_CLIENT_SECRET", demo_pool["client_secret"])
    assert check("demo").status == 0


def test_the_check_names_whose_permissions_it_proved(demo_portal):
    [first, *_] = check("demo").lines
    assert first == (
        "demo: ok   The permissions below are those of arn:aws:sts::123456789012:user/moto: "
        "run the check with the portal's own role."
    )


def test_a_denied_client_description_is_one_finding_not_also_an_unreachable_secret(demo_portal, aws_iam, monkeypatch):
    from tests.aws_iam import allow

    arn = pool_arn(demo_portal.user_pool_id)
    keys = aws_iam.user(allow(("Read", ["cognito-idp:DescribeUserPool", "cognito-idp:Admin*"], [arn])))
    for name, value in keys.env().items():
        monkeypatch.setenv(name, value)
    cognito.forget_clients()
    aws_iam.enforce()
    checked = check("demo")
    fails = checked.at("fail")
    assert len(fails) == 1 and "cognito-idp:DescribeUserPoolClient" in fails[0], fails
    assert checked.lines[0].endswith(f"those of {keys.arn}: run the check with the portal's own role.")


def test_several_portals_are_checked_by_slug_and_an_unknown_one_is_named(demo_portal, demo_pool, emulator):
    pool, client = demo_pool["user_pool_id"], demo_pool["client_id"]
    make_portal("other", user_pool_id=pool, client_id=client, endpoint_url=emulator)
    checked = check("demo", "other")
    assert checked.levels("demo") and checked.levels("other")
    assert "No portal 'ghost'" in check("demo", "ghost").error
