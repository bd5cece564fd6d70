"""The operator's commands shaped like the AWS CLI: signup, confirm_signup and resend_code.

The real AWS CLI (v1, installed outside the project's venv by scripts/install-awscli) is the reference
for skeletons and --cli-input-json; the local Cognito or botocore's Stubber stands in for Cognito.
"""

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from botocore.stub import ANY
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from signup import cli, cognito
from signup.emulator.demo import emulator_client
from signup.models import Portal, SignupAttempt, ValidationDataField
from tests.conftest import CLIENT_SECRET
from tests.factories import make_portal

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
AWSCLI = ROOT / ".venv" / "awscli"
PASSWORD = "Str0ng!Passw0rd-cli"
PERSON = [
    "Name=email,Value=alice@example.com",
    "Name=given_name,Value=Alice",
    "Name=family_name,Value=Liddell",
]
OPERATIONS = [
    ("signup", "sign-up", "SignUp", ["--client-id", "c", "--username", "u"]),
    (
        "confirm_signup",
        "confirm-sign-up",
        "ConfirmSignUp",
        ["--client-id", "c", "--username", "u", "--confirmation-code", "1"],
    ),
    ("resend_code", "resend-confirmation-code", "ResendConfirmationCode", ["--client-id", "c", "--username", "u"]),
]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run(command, *args):
    """The command through call_command; a failure's exit code is the CommandError's returncode."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except CommandError as error:
        code = error.returncode
        err.write(str(error))
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def aws(tmp_path_factory):
    """Runs the real `aws cognito-idp ...`; offline, with dummy credentials and no configuration files."""
    assert (AWSCLI / "awscli").is_dir(), "The real AWS CLI is missing: run scripts/install-awscli (make test does)."
    home = tmp_path_factory.mktemp("aws-home")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PYTHONPATH": str(AWSCLI),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
    }

    def aws_cli(*args, python=None):
        argv = [sys.executable, "-c", python, *args] if python else [sys.executable, "-m", "awscli", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)

    return aws_cli


def sent(emulator, operation):
    return [r["body"] for r in requests.get(f"{emulator}/_requests", timeout=5).json() if r["target"] == operation]


def outbox(emulator, username):
    return requests.get(f"{emulator}/_outbox", params={"username": username}, timeout=5).json()


def user_status(emulator, pool, username):
    idp = emulator_client(emulator)
    return idp.admin_get_user(UserPoolId=pool["user_pool_id"], Username=username)["UserStatus"]


def sign_up_alice(*extra):
    return run("signup", "demo", "--username", "alice", "--password", PASSWORD, "--user-attributes", *PERSON, *extra)


# --- Skeletons: what the real AWS CLI prints ------------------------------------------------------


@pytest.mark.parametrize(("command", "aws_command", "operation", "required"), OPERATIONS)
def test_the_input_skeleton_is_the_one_the_aws_cli_prints(aws, command, aws_command, operation, required):
    real = aws("cognito-idp", aws_command, "--generate-cli-skeleton", "input")
    assert real.returncode == 0, real.stderr
    assert run(command, "--generate-cli-skeleton", "input").stdout == real.stdout
    assert run(command, "--generate-cli-skeleton").stdout == real.stdout


# The AWS CLI builds the output skeleton with botocore's ArgumentGenerator and returns it from a stubbed
# call; where the stub refuses its own sample (SignUp's and ConfirmSignUp's "Session" is shorter than the
# model's 20-character minimum), we compare with that generator run inside the real CLI's own botocore.
REAL_OUTPUT_SKELETON = """
import json, sys
import awscli
import botocore.session
from botocore.utils import ArgumentGenerator

model = botocore.session.get_session().get_service_model("cognito-idp").operation_model(sys.argv[1])
skeleton = ArgumentGenerator(use_member_names=True).generate_skeleton(model.output_shape)
print(json.dumps(skeleton, indent=4, ensure_ascii=False))
"""


@pytest.mark.parametrize(("command", "aws_command", "operation", "required"), OPERATIONS)
def test_the_output_skeleton_is_the_one_the_aws_cli_prints(aws, command, aws_command, operation, required):
    ours = run(command, "--generate-cli-skeleton", "output")
    assert ours.code == 0 and ours.stderr == ""
    real = aws("cognito-idp", aws_command, *required, "--generate-cli-skeleton", "output")
    if real.returncode == 0:
        assert ours.stdout == real.stdout
    else:
        assert "Invalid length for parameter Session" in real.stderr, real.stderr
        generated = aws(operation, python=REAL_OUTPUT_SKELETON)
        assert generated.returncode == 0, generated.stderr
        assert ours.stdout == generated.stdout


# --- --cli-input-json ---------------------------------------------------------------------------


@pytest.fixture
def filled_skeleton(aws):
    """The real CLI's sign-up skeleton with Username, Password and UserAttributes filled in, the rest as printed."""
    printed = aws("cognito-idp", "sign-up", "--generate-cli-skeleton", "input")
    document = json.loads(printed.stdout)
    assert (document["ClientId"], document["SecretHash"]) == ("", "")
    document["Username"] = "alice"
    document["Password"] = PASSWORD
    document["UserAttributes"] = [
        {"Name": "email", "Value": "alice@example.com"},
        {"Name": "given_name", "Value": "Alice"},
        {"Name": "family_name", "Value": "Liddell"},
    ]
    return document


@pytest.mark.parametrize("as_file", [False, True], ids=["string", "file"])
def test_a_filled_in_aws_cli_skeleton_signs_a_user_up(
    emulator, demo_pool, demo_portal, filled_skeleton, tmp_path, as_file
):
    document = json.dumps(filled_skeleton)
    if as_file:
        path = tmp_path / "sign-up.json"
        path.write_text(document)
        document = f"file://{path}"
    result = run("signup", "demo", "--cli-input-json", document)
    assert result.code == 0, result.stderr
    response = json.loads(result.stdout)
    assert list(response) == ["UserConfirmed", "CodeDeliveryDetails", "UserSub"]  # the model's order
    assert response["UserConfirmed"] is False
    assert response["CodeDeliveryDetails"] == {
        "Destination": "a***@e***.com",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
    attempt = SignupAttempt.objects.get()
    assert (attempt.channel, attempt.status, attempt.user_sub) == ("cli", "succeeded", response["UserSub"])
    [request] = sent(emulator, "SignUp")
    assert request["ClientId"] == demo_pool["client_id"] and request["SecretHash"] == "***"
    # The skeleton's placeholders (empty ValidationData, AnalyticsMetadata, ...) were not sent.
    assert set(request) == {"ClientId", "SecretHash", "Username", "Password", "UserAttributes"}
    assert user_status(emulator, demo_pool, "alice") == "UNCONFIRMED"


def test_options_on_the_command_line_replace_the_keys_of_the_json(emulator, demo_pool, demo_portal, filled_skeleton):
    result = run(
        "signup",
        "demo",
        "--cli-input-json",
        json.dumps(filled_skeleton),
        "--username",
        "bob",
        "--user-attributes",
        "Name=email,Value=bob@example.com",
        "Name=given_name,Value=Bob",
        "Name=family_name,Value=Builder",
    )
    assert result.code == 0, result.stderr
    [request] = sent(emulator, "SignUp")
    assert request["Username"] == "bob"
    assert {a["Name"]: a["Value"] for a in request["UserAttributes"]} == {
        "email": "bob@example.com",
        "given_name": "Bob",
        "family_name": "Builder",
    }  # exactly what was given: a yes/no attribute not given is not sent as "no"
    assert user_status(emulator, demo_pool, "bob") == "UNCONFIRMED"
    assert SignupAttempt.objects.get().username == "bob"


def test_a_json_key_that_sign_up_does_not_know_is_refused(demo_portal, filled_skeleton):
    result = run("signup", "demo", "--cli-input-json", json.dumps({**filled_skeleton, "Passwort": "x"}))
    assert result.code == 2
    assert 'Unknown parameter in input: "Passwort"' in result.stderr
    assert not SignupAttempt.objects.exists()


# --- Shorthand and JSON --------------------------------------------------------------------------

SHORTHAND = [
    "--user-attributes",
    "Name=email,Value=alice@example.com",
    'Name=custom:company,Value="Acme, Inc."',
    "--validation-data",
    "Name=invite_code,Value=WELCOME",
    "--client-metadata",
    "campaign=spring,ref=news\\,letter",
    "--analytics-metadata",
    "AnalyticsEndpointId=endpoint-1",
]
JSON_FORMS = [
    "--user-attributes",
    '[{"Name": "email", "Value": "alice@example.com"}, {"Name": "custom:company", "Value": "Acme, Inc."}]',
    "--validation-data",
    '[{"Name": "invite_code", "Value": "WELCOME"}]',
    "--client-metadata",
    '{"campaign": "spring", "ref": "news,letter"}',
    "--analytics-metadata",
    '{"AnalyticsEndpointId": "endpoint-1"}',
]


@pytest.mark.parametrize("values", [SHORTHAND, JSON_FORMS], ids=["shorthand", "json"])
def test_shorthand_and_json_send_the_same_sign_up_request(stub, values):
    portal = make_portal(client_metadata={"source": "portal"})
    ValidationDataField.objects.create(portal=portal, name="invite_code", label="Invite code")
    stub.add_response(
        "sign_up",
        {"UserConfirmed": False, "UserSub": "sub-1", "CodeDeliveryDetails": {"DeliveryMedium": "EMAIL"}},
        {
            "ClientId": portal.client_id,
            "Username": "alice",
            "Password": PASSWORD,
            "UserAttributes": [
                {"Name": "email", "Value": "alice@example.com"},
                {"Name": "custom:company", "Value": "Acme, Inc."},
            ],
            "ValidationData": [{"Name": "invite_code", "Value": "WELCOME"}],
            "ClientMetadata": {"source": "portal", "campaign": "spring", "ref": "news,letter"},
            "AnalyticsMetadata": {"AnalyticsEndpointId": "endpoint-1"},
            "SecretHash": cognito.secret_hash("alice", portal.client_id, CLIENT_SECRET),
        },
    )
    result = run("signup", "acme", "--username", "alice", "--password", PASSWORD, *values)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "UserConfirmed": False,
        "CodeDeliveryDetails": {"DeliveryMedium": "EMAIL"},
        "UserSub": "sub-1",
    }
    attempt = SignupAttempt.objects.get()
    assert attempt.client_metadata == {"source": "portal", "campaign": "spring", "ref": "news,letter"}
    assert attempt.validation_data_names == ["invite_code"]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("Name=email,Value=a@b.c", {"Name": "email", "Value": "a@b.c"}),
        ("Name = email , Value = a@b.c ", {"Name": "email", "Value": "a@b.c"}),
        ('Name=custom:company,Value="Acme, Inc."', {"Name": "custom:company", "Value": "Acme, Inc."}),
        ("Name=custom:company,Value='Acme, Inc.'", {"Name": "custom:company", "Value": "Acme, Inc."}),
        ("Name=custom:company,Value=Acme\\, Inc.", {"Name": "custom:company", "Value": "Acme, Inc."}),
        ('Value="say \\"hi\\"",Name=x', {"Value": 'say "hi"', "Name": "x"}),
        ("Name=x,Value=a=b", {"Name": "x", "Value": "a=b"}),
        ("Name=x,Value=", {"Name": "x", "Value": ""}),
        ("KeyName1=one,KeyName2=two", {"KeyName1": "one", "KeyName2": "two"}),
    ],
)
def test_shorthand_follows_the_aws_cli_quoting_rules(text, parsed):
    assert cli.parse_shorthand(text) == parsed


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Name=custom:company,Value=Acme, Inc.", "a value with a comma needs quotes"),
        ("Name=email,Name=phone_number", '"Name" is given twice'),
        ('Name=x,Value="open', "is not closed"),
        ("Name=x,Value=[a,b]", "use JSON"),
        ("Name", 'expected "=" after Name'),
    ],
)
def test_shorthand_the_portal_cannot_read_is_refused_with_the_reason(text, problem):
    with pytest.raises(cli.ShorthandError, match=problem):
        cli.parse_shorthand(text)


# --- Refused before any call to Cognito ---------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "password", "line"),
    [
        (
            ["Name=custom:unknown,Value=x"],
            PASSWORD,
            "UserAttributes custom:unknown: not an attribute of this user pool",
        ),
        (["Name=nickname,Value=Al"], PASSWORD, "UserAttributes nickname: this app client may not write it"),
        (["Name=custom:company,Value=A"], PASSWORD, "UserAttributes custom:company: Use at least 2 characters."),
        (["Name=custom:newsletter,Value=yes"], PASSWORD, "UserAttributes custom:newsletter: use true or false"),
        ([], "weak", "Password: The password is too short."),
    ],
    ids=["unknown-attribute", "not-writable", "too-short-company", "not-a-boolean", "weak-password"],
)
def test_what_the_form_refuses_is_refused_before_any_call_and_recorded_as_invalid(
    emulator, demo_portal, extra, password, line
):
    result = run("signup", "demo", "--username", "alice", "--password", password, "--user-attributes", *PERSON, *extra)
    assert result.code == 2
    assert line in result.stderr.splitlines()
    assert "Nothing was sent to Cognito" in result.stderr and result.stdout == ""
    assert sent(emulator, "SignUp") == []
    attempt = SignupAttempt.objects.get()
    assert (attempt.status, attempt.channel) == ("invalid", "cli")
    assert str(attempt.reference) in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--client-metadata", "file://\x00", "--client-metadata: cannot read"),
        ("--client-metadata", "file://~no-such-user-here/x", "--client-metadata: cannot read"),
        ("--cli-input-json", "[" * 2000 + "]" * 2000, "nested more than 16 levels deep"),
        ("--client-metadata", '{"source": "a\\u0000b"}', "ClientMetadata (value 1): contains a NUL character"),
        ("--client-metadata", json.dumps({"k": "x" * 131073}), "ClientMetadata (value 1): at most 131072 characters"),
        ("--password", "Str0ng!Passw0rd\udc80", "Password: contains a NUL character or bytes that are not UTF-8"),
        ("--user-context-data", "IpAddress=fe80::1%eth0", "UserContextData.IpAddress: give the address without a zone"),
    ],
    ids=["nul-path", "unknown-home", "nested-json", "nul-metadata", "long-metadata", "not-utf8", "zoned-ip"],
)
def test_input_cognito_would_refuse_is_a_usage_error_before_any_call(stub, option, value, problem):
    make_portal()
    args = ["acme", "--username", "alice", "--password", PASSWORD, "--user-attributes", *PERSON, option, value]
    result = run("signup", *args)
    assert result.code == 2
    assert problem in result.stderr
    assert PASSWORD not in result.stderr


def test_validation_data_the_operator_did_not_declare_is_refused(emulator, demo_portal):
    result = sign_up_alice("--validation-data", "Name=invite_code,Value=WELCOME")
    assert result.code == 2
    assert "ValidationData invite_code: not declared on this portal" in result.stderr
    assert sent(emulator, "SignUp") == []
    assert SignupAttempt.objects.get().status == "invalid"


def test_a_client_id_of_another_app_client_is_refused(emulator, demo_portal):
    result = sign_up_alice("--client-id", "someotherclient")
    assert result.code == 2
    assert "is not the app client of portal 'demo'" in result.stderr
    assert sent(emulator, "SignUp") == [] and not SignupAttempt.objects.exists()


def test_a_closed_portal_takes_no_sign_up_from_the_command_line(emulator, demo_portal):
    Portal.objects.filter(pk=demo_portal.pk).update(is_open=False)
    result = sign_up_alice()
    assert result.code == 1 and "takes no sign-ups: closed" in result.stderr
    assert sent(emulator, "SignUp") == []


# --- Cognito's answers --------------------------------------------------------------------------


def test_a_taken_username_exits_254_with_the_aws_cli_error_line(emulator, demo_portal):
    assert sign_up_alice().code == 0
    result = sign_up_alice()
    assert result.code == 254
    first_line, reference_line = result.stderr.splitlines()
    assert first_line == (
        "An error occurred (UsernameExistsException) when calling the SignUp operation: User already exists"
    )
    rejected = SignupAttempt.objects.get(status="rejected")
    assert reference_line == f"Attempt {rejected.reference}."
    assert (rejected.channel, rejected.error_code) == ("cli", "UsernameExistsException")


def test_an_unreachable_cognito_exits_255(demo_pool, demo_portal, monkeypatch):
    monkeypatch.setenv("DEMO_CLIENT_SECRET", demo_pool["client_secret"])
    Portal.objects.filter(pk=demo_portal.pk).update(
        endpoint_url="http://127.0.0.1:9",  # nothing listens on the discard port
        client_secret_env="DEMO_CLIENT_SECRET",
    )
    result = sign_up_alice()
    assert result.code == 255
    assert result.stderr.startswith("Could not connect to Cognito: ")
    attempt = SignupAttempt.objects.get()
    assert (attempt.status, attempt.error_code) == ("failed", "EndpointConnectionError")
    assert f"Attempt {attempt.reference}." in result.stderr


def test_a_secret_hash_that_is_not_the_computed_one_is_reported_and_not_sent(emulator, demo_portal):
    result = sign_up_alice("--secret-hash", "bm90IHRoZSBoYXNo")
    assert result.code == 0, result.stderr
    assert "warning: the SecretHash given is not the one for this username and app client" in result.stderr
    assert SignupAttempt.objects.get().status == "succeeded"  # the emulator checks the hash it got


def test_confirm_signup_confirms_with_the_emailed_code_and_records_it(emulator, demo_pool, demo_portal):
    assert sign_up_alice().code == 0
    code = outbox(emulator, "alice")[-1]["code"]
    result = run("confirm_signup", "demo", "--username", "alice", "--confirmation-code", code)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == {}
    assert user_status(emulator, demo_pool, "alice") == "CONFIRMED"
    attempt = SignupAttempt.objects.get()
    assert attempt.confirmed_at is not None and attempt.user_confirmed is True
    [request] = sent(emulator, "ConfirmSignUp")
    assert request["SecretHash"] == "***" and "ForceAliasCreation" not in request


def test_a_wrong_code_exits_254_with_cognitos_error(emulator, demo_portal):
    assert sign_up_alice().code == 0
    result = run("confirm_signup", "demo", "--username", "alice", "--confirmation-code", "000000")
    assert result.code == 254
    assert result.stderr.startswith(
        "An error occurred (CodeMismatchException) when calling the ConfirmSignUp operation"
    )
    assert SignupAttempt.objects.get().confirmed_at is None


def test_confirm_signup_takes_the_aws_clis_json_and_force_alias_creation(stub):
    portal = make_portal()
    stub.add_response(
        "confirm_sign_up",
        {},
        {
            "ClientId": portal.client_id,
            "Username": "alice",
            "ConfirmationCode": "123456",
            "ForceAliasCreation": True,
            "SecretHash": cognito.secret_hash("alice", portal.client_id, CLIENT_SECRET),
        },
    )
    document = {"ClientId": "", "SecretHash": "", "Username": "alice", "ConfirmationCode": "123456", "Session": ""}
    result = run("confirm_signup", "acme", "--cli-input-json", json.dumps(document), "--force-alias-creation")
    assert result.code == 0, result.stderr
    stub.add_response(
        "confirm_sign_up",
        {},
        {
            "ClientId": portal.client_id,
            "Username": "alice",
            "ConfirmationCode": "123456",
            "SecretHash": cognito.secret_hash("alice", portal.client_id, CLIENT_SECRET),
        },
    )
    document["ForceAliasCreation"] = True
    result = run("confirm_signup", "acme", "--cli-input-json", json.dumps(document), "--no-force-alias-creation")
    assert result.code == 0, result.stderr


def test_what_the_portal_cannot_pass_on_is_refused_not_dropped(stub):
    make_portal()
    result = run("confirm_signup", "acme", "--username", "alice", "--confirmation-code", "1", "--session", "x" * 20)
    assert result.code == 2 and "Not sent with ConfirmSignUp by this portal, so refused: Session" in result.stderr


def test_confirm_and_resend_pass_on_threat_protection_data_and_the_analytics_endpoint(stub):
    make_portal()
    expected = {"UserContextData": {"EncodedData": "abc"}, "AnalyticsMetadata": {"AnalyticsEndpointId": "e-1"}}
    stub.add_response(
        "resend_confirmation_code", {}, {"ClientId": ANY, "Username": "alice", "SecretHash": ANY, **expected}
    )
    stub.add_response(
        "confirm_sign_up",
        {},
        {"ClientId": ANY, "Username": "alice", "ConfirmationCode": "1", "SecretHash": ANY, **expected},
    )
    extra = ("--user-context-data", "EncodedData=abc", "--analytics-metadata", "AnalyticsEndpointId=e-1")
    result = run("resend_code", "acme", "--username", "alice", *extra)
    assert result.code == 0, result.stderr
    result = run("confirm_signup", "acme", "--username", "alice", "--confirmation-code", "1", *extra)
    assert result.code == 0, result.stderr


def test_resend_code_sends_a_new_code_and_counts_it(emulator, demo_portal):
    assert sign_up_alice().code == 0
    first = outbox(emulator, "alice")[-1]["code"]
    result = run("resend_code", "demo", "--username", "alice")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "CodeDeliveryDetails": {"Destination": "a***@e***.com", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
    }
    second = outbox(emulator, "alice")[-1]["code"]
    assert second != first
    assert SignupAttempt.objects.get().resend_count == 1
    assert run("confirm_signup", "demo", "--username", "alice", "--confirmation-code", second).code == 0


def test_a_sixth_code_within_the_hour_is_refused_here_without_a_call(stub):
    make_portal()
    for _ in range(5):
        stub.add_response("resend_confirmation_code", {"CodeDeliveryDetails": {"DeliveryMedium": "EMAIL"}})
        assert run("resend_code", "acme", "--username", "alice").code == 0
    result = run("resend_code", "acme", "--username", "alice")  # the Stubber has no sixth answer to give
    assert result.code == 1
    assert result.stderr.startswith("Nothing was sent to Cognito: You can ask for up to five codes an hour")


# --- Secrets --------------------------------------------------------------------------------------


def test_the_password_and_the_client_secret_never_appear_in_output_logs_or_the_database(
    emulator, demo_pool, demo_portal, caplog
):
    weak = "weakpassword-never-shown"
    results = [
        sign_up_alice("--secret-hash", "bm90IHRoZSBoYXNo"),
        sign_up_alice(),
        run("signup", "demo", "--username", "bob", "--password", weak, "--user-attributes", *PERSON),
        run("signup", "demo", "--cli-input-json", json.dumps({"Username": "carol", "Password": PASSWORD})),
    ]
    assert [r.code for r in results] == [0, 254, 2, 2]
    secrets = (PASSWORD, weak, demo_pool["client_secret"])
    for result in results:
        assert not any(s in result.stdout or s in result.stderr for s in secrets)
    assert not any(s in caplog.text for s in secrets)
    for model in apps.get_app_config("signup").get_models():
        rows = repr(list(model.objects.values()))
        assert not any(s in rows for s in secrets), model.__name__
    assert SignupAttempt.objects.count() == 4


# --- From the shell ---------------------------------------------------------------------------------


def test_from_the_shell_failures_print_as_the_aws_cli_does_and_set_the_exit_code():
    completed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "signup",
            "demo",
            "--skip-checks",
            "--user-attributes",
            "Name=custom:company,Value=Acme, Inc.",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith("--user-attributes: a value with a comma needs quotes")
    assert "CommandError" not in completed.stderr and completed.stdout == ""
