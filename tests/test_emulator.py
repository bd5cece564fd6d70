"""The local Cognito emulator, driven over HTTP with boto3 as the portal drives real Cognito."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from signup.emulator.demo import create_demo_pool
from signup.emulator.rules import mask_destination, secret_hash
from signup.emulator.server import start_in_thread
from tests.factories import SECRET_HASH_VECTORS

PASSWORD = "Str0ng!Passw0rd"
ALICE = {"email": "alice@example.com", "given_name": "Alice", "family_name": "Liddell"}
OUTBOX_KEYS = {
    "username",
    "code",
    "destination",
    "medium",
    "attribute",
    "client_id",
    "user_pool_id",
    "sent_at",
}


# --- Fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server, url = start_in_thread()
    yield url
    server.shutdown()


@pytest.fixture(autouse=True)
def _reset(base_url: str) -> None:
    http(base_url, "POST", "/moto-api/reset")


@pytest.fixture(scope="module")
def idp(base_url: str) -> Any:
    return boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=base_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


@dataclass
class AppClient:
    """One pool's app client, calling the public sign-up operations with the right hash."""

    idp: Any
    pool_id: str
    client_id: str
    secret: str | None

    def hash(self, username: str) -> str | None:
        return secret_hash(username, self.client_id, self.secret) if self.secret else None

    def _call(self, operation: str, username: str, **params: Any) -> dict[str, Any]:
        params = {"ClientId": self.client_id, "Username": username, **params}
        params.setdefault("SecretHash", self.hash(username))
        call = getattr(self.idp, operation)
        return call(**{name: value for name, value in params.items() if value is not None})

    def sign_up(
        self,
        username: str = "alice",
        password: str | None = PASSWORD,
        attributes: dict[str, str] | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        attributes = ALICE if attributes is None else attributes
        user_attributes = [{"Name": name, "Value": value} for name, value in attributes.items()]
        return self._call("sign_up", username, Password=password, UserAttributes=user_attributes, **params)

    def confirm(self, username: str, code: str, **params: Any) -> dict[str, Any]:
        return self._call("confirm_sign_up", username, ConfirmationCode=code, **params)

    def resend(self, username: str, **params: Any) -> dict[str, Any]:
        return self._call("resend_confirmation_code", username, **params)

    def status(self, username: str) -> str:
        return self.idp.admin_get_user(UserPoolId=self.pool_id, Username=username)["UserStatus"]

    def attributes(self, username: str) -> dict[str, str]:
        user = self.idp.admin_get_user(UserPoolId=self.pool_id, Username=username)
        return {attribute["Name"]: attribute["Value"] for attribute in user["UserAttributes"]}


@pytest.fixture
def demo(idp: Any) -> AppClient:
    ids = create_demo_pool(idp)
    return AppClient(idp, ids["user_pool_id"], ids["client_id"], ids["client_secret"])


@pytest.fixture
def make_client(idp: Any) -> Callable[..., AppClient]:
    def make(client_options: dict[str, Any] | None = None, **pool_options: Any) -> AppClient:
        pool_id = idp.create_user_pool(PoolName="test", **pool_options)["UserPool"]["Id"]
        created = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="test", **(client_options or {}))
        client = created["UserPoolClient"]
        return AppClient(idp, pool_id, client["ClientId"], client.get("ClientSecret"))

    return make


def http(base_url: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data=data, method=method)
    with urllib.request.urlopen(request) as response:
        content = response.read()
    return json.loads(content) if content else None


def outbox(base_url: str, query: str = "") -> list[dict[str, str]]:
    return http(base_url, "GET", "/_outbox" + query)


def last_code(base_url: str, username: str) -> str:
    return outbox(base_url, f"?username={username}")[-1]["code"]


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def schema_error(*problems: str) -> tuple[str, str]:
    text = "".join(f"{problem}\n" for problem in problems)
    return "InvalidParameterException", f"Attributes did not conform to the schema: {text}"


# --- The happy path ------------------------------------------------------------------------------


def test_it_signs_up_and_confirms_with_the_emailed_code(base_url: str, demo: AppClient) -> None:
    response = demo.sign_up("alice")

    assert response["UserConfirmed"] is False
    assert response["CodeDeliveryDetails"] == {
        "Destination": "a***@e***.com",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
    assert demo.status("alice") == "UNCONFIRMED"
    assert demo.attributes("alice")["sub"] == response["UserSub"]

    confirmed = demo.confirm("alice", last_code(base_url, "alice"))

    assert set(confirmed) == {"ResponseMetadata"}
    assert demo.status("alice") == "CONFIRMED"
    assert demo.attributes("alice")["email_verified"] == "true"


def test_it_answers_in_cognitos_wire_format(demo: AppClient) -> None:
    success = demo.sign_up("alice")["ResponseMetadata"]
    with pytest.raises(ClientError) as raised:
        demo.sign_up("alice")
    failure = raised.value.response["ResponseMetadata"]

    for metadata, status in ((success, 200), (failure, 400)):
        assert metadata["HTTPStatusCode"] == status
        assert metadata["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.1"
        assert len(metadata["HTTPHeaders"]["x-amzn-requestid"]) == 36
    assert success["RequestId"] != failure["RequestId"]


def test_it_passes_other_operations_through_to_moto(demo: AppClient) -> None:
    described = demo.idp.describe_user_pool_client(UserPoolId=demo.pool_id, ClientId=demo.client_id)

    assert described["UserPoolClient"]["ClientSecret"] == demo.secret


def test_a_confirmed_user_can_sign_in_through_moto(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    demo.confirm("alice", last_code(base_url, "alice"))

    signed_in = demo.idp.admin_initiate_auth(
        UserPoolId=demo.pool_id,
        ClientId=demo.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD, "SECRET_HASH": demo.hash("alice")},
    )

    assert signed_in["AuthenticationResult"]["IdToken"].count(".") == 2


# --- SecretHash (docs/cognito.md §2.4, §2.5) -----------------------------------------------------


@pytest.mark.parametrize(("username", "client_id", "client_secret", "expected"), SECRET_HASH_VECTORS)
def test_secret_hash_matches_the_reference_vectors(
    username: str, client_id: str, client_secret: str, expected: str
) -> None:
    assert secret_hash(username, client_id, client_secret) == expected


def test_it_rejects_a_missing_secret_hash(demo: AppClient) -> None:
    assert error_of(lambda: demo.sign_up(SecretHash=None)) == (
        "NotAuthorizedException",
        f"Unable to verify secret hash for client {demo.client_id}",
    )


def test_it_rejects_a_wrong_secret_hash(demo: AppClient) -> None:
    wrong = secret_hash("alice", demo.client_id, "not-the-secret")

    assert error_of(lambda: demo.sign_up("alice", SecretHash=wrong)) == (
        "NotAuthorizedException",
        f"Unable to verify secret hash for client {demo.client_id}",
    )


def test_it_rejects_a_hash_of_another_username(demo: AppClient) -> None:
    assert error_of(lambda: demo.sign_up("alice", SecretHash=demo.hash("Alice")))[0] == "NotAuthorizedException"


@pytest.mark.parametrize("username", ["jörg.müller@example.com", "名前"])
def test_it_accepts_a_utf8_secret_hash_for_a_non_ascii_username(demo: AppClient, username: str) -> None:
    assert demo.sign_up(username)["UserConfirmed"] is False


def test_it_rejects_a_secret_hash_sent_to_a_client_without_secret(
    make_client: Callable[..., AppClient],
) -> None:
    app = make_client()

    assert error_of(lambda: app.sign_up(attributes={}, SecretHash="c2VjcmV0")) == (
        "InvalidParameterException",
        f"App client {app.client_id} is not configured for secret but secret hash was received",
    )


def test_it_checks_the_secret_hash_on_confirm_and_resend(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    code = last_code(base_url, "alice")
    expected = ("NotAuthorizedException", f"Unable to verify secret hash for client {demo.client_id}")

    assert error_of(lambda: demo.confirm("alice", code, SecretHash=demo.hash("bob"))) == expected
    assert error_of(lambda: demo.resend("alice", SecretHash=None)) == expected


def test_it_rejects_an_unknown_client_id(demo: AppClient) -> None:
    unknown = AppClient(demo.idp, demo.pool_id, "unknownclient123", None)

    assert error_of(lambda: unknown.sign_up()) == (
        "ResourceNotFoundException",
        "User pool client unknownclient123 does not exist.",
    )


# --- Request shape (the service model's member constraints, docs/cognito.md §2.2, §2.3) ----------


@pytest.mark.parametrize(
    ("username", "problem"),
    [
        ("alice smith", r"satisfy regular expression pattern: [\p{L}\p{M}\p{S}\p{N}\p{P}]+"),
        ("a" * 129, "have length less than or equal to 128"),
    ],
)
def test_it_rejects_a_malformed_username(demo: AppClient, username: str, problem: str) -> None:
    assert error_of(lambda: demo.sign_up(username)) == (
        "InvalidParameterException",
        f"1 validation error detected: Value at 'username' failed to satisfy constraint: Member must {problem}",
    )


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        (" Str0ng!Passw0rd", r"satisfy regular expression pattern: [\S]+"),
        ("Str0ng!Passw0rd ", r"satisfy regular expression pattern: [\S]+"),
        ("Str0ng!\tPassw0rd", r"satisfy regular expression pattern: [\S]+"),
        ("Str0ng!Passw0rd" + "x" * 242, "have length less than or equal to 256"),
    ],
)
def test_it_rejects_a_malformed_password(demo: AppClient, password: str, problem: str) -> None:
    assert error_of(lambda: demo.sign_up(password=password)) == (
        "InvalidParameterException",
        f"1 validation error detected: Value at 'password' failed to satisfy constraint: Member must {problem}",
    )


def test_it_accepts_an_inner_space_as_the_symbol(demo: AppClient) -> None:
    assert demo.sign_up(password="Str0ng Passw0rd")["UserConfirmed"] is False


def test_it_accepts_a_long_password_moto_would_refuse(demo: AppClient) -> None:
    assert demo.sign_up(password="Str0ng!Passw0rd" + "x" * 100)["UserConfirmed"] is False


def test_it_rejects_an_attribute_value_over_2048_characters(demo: AppClient) -> None:
    attributes = {**ALICE, "custom:company": "x" * 2049}

    assert error_of(lambda: demo.sign_up(attributes=attributes)) == (
        "InvalidParameterException",
        "1 validation error detected: Value at 'userAttributes.4.member.value' failed to satisfy "
        "constraint: Member must have length less than or equal to 2048",
    )


def test_it_counts_every_validation_error(demo: AppClient) -> None:
    code, message = error_of(lambda: demo.sign_up("bad name", password=" x"))

    assert code == "InvalidParameterException"
    assert message.startswith("2 validation errors detected: Value at 'username' ")
    assert "; Value at 'password' " in message


def test_it_rejects_a_confirmation_code_with_whitespace(demo: AppClient) -> None:
    demo.sign_up("alice")

    assert error_of(lambda: demo.confirm("alice", "123 456")) == (
        "InvalidParameterException",
        "1 validation error detected: Value at 'confirmationCode' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\S]+",
    )


# --- Password policy (docs/cognito.md §3.4) ------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Sh0rt!pw", "Password not long enough"),
        (None, "Password not long enough"),
        ("", "Password not long enough"),
        ("n0uppercase!", "Password must have uppercase characters"),
        ("N0LOWERCASE!", "Password must have lowercase characters"),
        ("NoNumbers!here", "Password must have numeric characters"),
        ("NoSymbols123abc", "Password must have symbol characters"),
        ("Ünicode123!", "Password must have uppercase characters"),
    ],
)
def test_it_enforces_the_pool_password_policy(demo: AppClient, password: str | None, reason: str) -> None:
    assert error_of(lambda: demo.sign_up(password=password)) == (
        "InvalidPasswordException",
        f"Password did not conform with policy: {reason}",
    )


@pytest.mark.parametrize("symbol", list("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"))
def test_it_accepts_each_documented_symbol(demo: AppClient, symbol: str) -> None:
    assert demo.sign_up(password=f"Str0ngPassw0rd{symbol}")["UserConfirmed"] is False


def test_it_treats_flags_a_custom_policy_leaves_out_as_off(
    make_client: Callable[..., AppClient],
) -> None:
    app = make_client(Policies={"PasswordPolicy": {"MinimumLength": 6}})

    assert app.sign_up(password="simple", attributes={})["UserConfirmed"] is False


def test_it_uses_cognitos_default_policy_for_pools_without_one(
    make_client: Callable[..., AppClient],
) -> None:
    app = make_client()

    assert error_of(lambda: app.sign_up(password="lowercase1!", attributes={}))[1] == (
        "Password did not conform with policy: Password must have uppercase characters"
    )


# --- User attributes (docs/cognito.md §4) --------------------------------------------------------


def test_it_rejects_an_attribute_missing_from_the_schema(demo: AppClient) -> None:
    attributes = {**ALICE, "custom:unknown": "x", "department": "y"}

    assert error_of(lambda: demo.sign_up(attributes=attributes)) == schema_error(
        "custom:unknown: Attribute does not exist in the schema.",
        "department: Attribute does not exist in the schema.",
    )


def test_it_rejects_a_missing_required_attribute(demo: AppClient) -> None:
    attributes = {"email": "alice@example.com"}

    assert error_of(lambda: demo.sign_up(attributes=attributes)) == schema_error(
        "given_name: The attribute is required", "family_name: The attribute is required"
    )


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("custom:company", "A", "String must be no shorter than 2 characters"),
        ("custom:company", "x" * 65, "String must be no longer than 64 characters"),
        ("custom:employees", "many", "Number must be an integer"),
        ("custom:employees", "12.5", "Number must be an integer"),
        ("custom:employees", "0", "Number must be no less than 1"),
        ("custom:employees", "100001", "Number must be no greater than 100000"),
        ("custom:newsletter", "maybe", "Boolean must be true or false"),
        ("birthdate", "1990-1-1", "String must be no shorter than 10 characters"),
    ],
)
def test_it_enforces_attribute_constraints(demo: AppClient, name: str, value: str, problem: str) -> None:
    attributes = {**ALICE, name: value}

    assert error_of(lambda: demo.sign_up(attributes=attributes)) == schema_error(f"{name}: {problem}")


def test_it_accepts_values_within_the_constraints(demo: AppClient) -> None:
    attributes = {
        **ALICE,
        "phone_number": "+14325551212",
        "birthdate": "1990-01-31",
        "custom:company": "Ex",
        "custom:employees": "100000",
        "custom:newsletter": "false",
    }

    demo.sign_up(attributes=attributes)

    assert demo.attributes("alice")["custom:employees"] == "100000"


@pytest.mark.parametrize("email", ["alice", "alice@example", "alice @example.com", "alice@@example.com"])
def test_it_rejects_a_malformed_email(demo: AppClient, email: str) -> None:
    attributes = {**ALICE, "email": email}

    assert error_of(lambda: demo.sign_up(attributes=attributes)) == (
        "InvalidParameterException",
        "Invalid email address format.",
    )


def test_an_empty_required_attribute_counts_as_missing(demo: AppClient) -> None:
    attributes = {**ALICE, "email": ""}

    assert error_of(lambda: demo.sign_up(attributes=attributes)) == schema_error("email: The attribute is required")


@pytest.mark.parametrize("phone", ["+1 432 555 1212", "14325551212", "+01234", "+1234567890123456"])
def test_it_rejects_a_phone_number_not_in_e164(demo: AppClient, phone: str) -> None:
    attributes = {**ALICE, "phone_number": phone}

    assert error_of(lambda: demo.sign_up(attributes=attributes)) == (
        "InvalidParameterException",
        "Invalid phone number format.",
    )


def test_it_rejects_attributes_outside_the_clients_write_set(demo: AppClient) -> None:
    attributes = {**ALICE, "email_verified": "true"}

    assert error_of(lambda: demo.sign_up(attributes=attributes)) == (
        "NotAuthorizedException",
        "A client attempted to write unauthorized attribute",
    )


def test_a_default_client_may_write_standard_attributes(make_client: Callable[..., AppClient]) -> None:
    app = make_client()

    app.sign_up(attributes={"name": "Alice Liddell", "locale": "en-GB"})

    assert app.attributes("alice")["name"] == "Alice Liddell"


@pytest.mark.parametrize(("name", "value"), [("custom:team", "x"), ("email_verified", "true"), ("sub", "x")])
def test_a_default_client_may_not_write_custom_or_built_in_attributes(
    make_client: Callable[..., AppClient], name: str, value: str
) -> None:
    app = make_client(Schema=[{"Name": "team", "AttributeDataType": "String"}])

    assert error_of(lambda: app.sign_up(attributes={name: value})) == (
        "NotAuthorizedException",
        "A client attempted to write unauthorized attribute",
    )


def test_required_attributes_are_writable_by_any_client(
    make_client: Callable[..., AppClient],
) -> None:
    app = make_client(
        {"WriteAttributes": ["custom:team"]},
        Schema=[
            {"Name": "email", "AttributeDataType": "String", "Required": True},
            {"Name": "team", "AttributeDataType": "String"},
        ],
    )

    app.sign_up(attributes={"email": "alice@example.com", "custom:team": "x"})

    assert app.attributes("alice")["email"] == "alice@example.com"


def test_developer_only_attributes_are_never_writable(
    make_client: Callable[..., AppClient],
) -> None:
    app = make_client(
        {"WriteAttributes": ["dev:custom:level"]},
        Schema=[{"Name": "level", "AttributeDataType": "String", "DeveloperOnlyAttribute": True}],
    )

    assert error_of(lambda: app.sign_up(attributes={"dev:custom:level": "x"})) == (
        "NotAuthorizedException",
        "A client attempted to write unauthorized attribute",
    )


def test_it_knows_standard_attributes_moto_dropped_from_the_schema(
    make_client: Callable[..., AppClient],
) -> None:
    app = make_client(Schema=[{"Name": "team", "AttributeDataType": "String"}])

    app.sign_up(attributes={"email": "alice@example.com"})

    assert app.attributes("alice")["email"] == "alice@example.com"


# --- Username modes (docs/cognito.md §3.2, §3.3, §3.6) -------------------------------------------


def test_it_refuses_sign_up_when_only_admins_create_users(
    make_client: Callable[..., AppClient],
) -> None:
    app = make_client(AdminCreateUserConfig={"AllowAdminCreateUserOnly": True})

    assert error_of(lambda: app.sign_up(attributes={})) == (
        "NotAuthorizedException",
        "SignUp is not permitted for this user pool",
    )


def test_it_rejects_a_taken_username_even_if_unconfirmed(demo: AppClient) -> None:
    demo.sign_up("dave")

    assert error_of(lambda: demo.sign_up("dave")) == ("UsernameExistsException", "User already exists")


def test_a_case_insensitive_pool_treats_usernames_alike(base_url: str, demo: AppClient) -> None:
    demo.sign_up("dave")

    assert error_of(lambda: demo.sign_up("DAVE")) == ("UsernameExistsException", "User already exists")
    demo.resend("Dave")
    demo.confirm("dAVE", last_code(base_url, "dave"))
    assert demo.status("dave") == "CONFIRMED"


def test_a_case_sensitive_pool_keeps_usernames_apart(make_client: Callable[..., AppClient]) -> None:
    app = make_client(UsernameConfiguration={"CaseSensitive": True})

    app.sign_up("dave", attributes={})
    app.sign_up("DAVE", attributes={})

    assert app.status("DAVE") == "UNCONFIRMED"


def test_an_email_username_pool_files_the_user_under_a_uuid(
    base_url: str, make_client: Callable[..., AppClient]
) -> None:
    app = make_client(UsernameAttributes=["email"], AutoVerifiedAttributes=["email"])

    sub = app.sign_up("jane@example.com", attributes={"given_name": "Jane"})["UserSub"]

    user = app.idp.admin_get_user(UserPoolId=app.pool_id, Username=sub)
    assert user["Username"] == sub
    assert app.attributes(sub)["email"] == "jane@example.com"
    assert outbox(base_url)[-1]["username"] == sub
    app.resend(sub)
    app.confirm("jane@example.com", last_code(base_url, sub))
    assert app.status(sub) == "CONFIRMED"


def test_an_email_username_pool_rejects_a_taken_email(make_client: Callable[..., AppClient]) -> None:
    app = make_client(UsernameAttributes=["email"])
    app.sign_up("jane@example.com", attributes={})

    assert error_of(lambda: app.sign_up("jane@example.com", attributes={})) == (
        "UsernameExistsException",
        "An account with the given email already exists.",
    )


@pytest.mark.parametrize(
    ("username_attributes", "message"),
    [
        (["email"], "Invalid email address format."),
        (["phone_number"], "Invalid phone number format."),
        (["email", "phone_number"], "Username should be either an email or a phone number."),
    ],
)
def test_a_username_attribute_pool_rejects_other_usernames(
    make_client: Callable[..., AppClient], username_attributes: list[str], message: str
) -> None:
    app = make_client(UsernameAttributes=username_attributes)

    assert error_of(lambda: app.sign_up("jane", attributes={})) == (
        "InvalidParameterException",
        message,
    )


def test_a_phone_username_pool_accepts_an_e164_number(make_client: Callable[..., AppClient]) -> None:
    app = make_client(UsernameAttributes=["email", "phone_number"])

    sub = app.sign_up("+14325551212", attributes={})["UserSub"]

    assert app.attributes(sub)["phone_number"] == "+14325551212"


@pytest.mark.parametrize(
    ("alias", "username", "message"),
    [
        (
            "email",
            "jane@example.com",
            "Username cannot be of email format, since user pool is configured for email alias.",
        ),
        (
            "phone_number",
            "+14325551212",
            "Username cannot be of phone number format, since user pool is configured for phone number alias.",
        ),
    ],
)
def test_an_alias_pool_rejects_alias_shaped_usernames(
    make_client: Callable[..., AppClient], alias: str, username: str, message: str
) -> None:
    app = make_client(AliasAttributes=[alias])

    assert error_of(lambda: app.sign_up(username, attributes={})) == (
        "InvalidParameterException",
        message,
    )


def test_an_alias_pool_reports_a_taken_email_at_confirmation(
    base_url: str, make_client: Callable[..., AppClient]
) -> None:
    app = make_client(AliasAttributes=["email"], AutoVerifiedAttributes=["email"])
    for username in ("jane", "janet"):
        app.sign_up(username, attributes={"email": "jane@example.com"})
    app.confirm("jane", last_code(base_url, "jane"))

    assert error_of(lambda: app.confirm("janet", last_code(base_url, "janet"))) == (
        "AliasExistsException",
        "An account with the email already exists.",
    )
    app.confirm("janet", last_code(base_url, "janet"), ForceAliasCreation=True)
    assert app.attributes("jane")["email_verified"] == "false"
    assert app.attributes("janet")["email_verified"] == "true"


# --- Confirmation codes (docs/cognito.md §5) -----------------------------------------------------


def test_it_rejects_a_wrong_code(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    wrong = "000000" if last_code(base_url, "alice") != "000000" else "111111"

    assert error_of(lambda: demo.confirm("alice", wrong)) == (
        "CodeMismatchException",
        "Invalid verification code provided, please try again.",
    )


def test_it_rejects_a_code_older_than_a_day(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    http(base_url, "POST", "/_clock", {"advance_seconds": 24 * 3600 + 1})

    assert error_of(lambda: demo.confirm("alice", last_code(base_url, "alice"))) == (
        "ExpiredCodeException",
        "Invalid code provided, please request a code again.",
    )


def test_a_resent_code_supersedes_the_previous_one(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    first = last_code(base_url, "alice")

    resent = demo.resend("alice")

    assert resent["CodeDeliveryDetails"] == {
        "Destination": "a***@e***.com",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
    assert error_of(lambda: demo.confirm("alice", first))[0] == "ExpiredCodeException"
    demo.confirm("alice", last_code(base_url, "alice"))
    assert demo.status("alice") == "CONFIRMED"


def test_it_refuses_to_confirm_a_confirmed_user(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    code = last_code(base_url, "alice")
    demo.confirm("alice", code)

    assert error_of(lambda: demo.confirm("alice", code)) == (
        "NotAuthorizedException",
        "User cannot be confirmed. Current status is CONFIRMED",
    )


def test_it_reports_an_unknown_user(demo: AppClient) -> None:
    expected = ("UserNotFoundException", "Username/client id combination not found.")

    assert error_of(lambda: demo.confirm("nobody", "123456")) == expected
    assert error_of(lambda: demo.resend("nobody")) == expected


def test_it_limits_confirmation_attempts_per_hour(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    code = last_code(base_url, "alice")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(15):
        assert error_of(lambda: demo.confirm("alice", wrong))[0] == "CodeMismatchException"

    assert error_of(lambda: demo.confirm("alice", code)) == (
        "LimitExceededException",
        "Attempt limit exceeded, please try after some time.",
    )
    http(base_url, "POST", "/_clock", {"advance_seconds": 3600})
    demo.confirm("alice", code)


def test_it_limits_resends_per_hour(demo: AppClient) -> None:
    demo.sign_up("alice")
    for _ in range(5):
        demo.resend("alice")

    assert error_of(lambda: demo.resend("alice")) == (
        "LimitExceededException",
        "Attempt limit exceeded, please try after some time.",
    )


def test_it_refuses_to_resend_to_a_confirmed_user(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    demo.confirm("alice", last_code(base_url, "alice"))

    assert error_of(lambda: demo.resend("alice")) == (
        "InvalidParameterException",
        "User is already confirmed.",
    )


def test_a_pool_without_auto_verification_sends_no_code(base_url: str, make_client: Callable[..., AppClient]) -> None:
    app = make_client()

    response = app.sign_up(attributes={"email": "alice@example.com"})

    assert "CodeDeliveryDetails" not in response
    assert outbox(base_url) == []
    assert error_of(lambda: app.resend("alice")) == (
        "InvalidParameterException",
        "Cannot resend codes. Auto verification not turned on.",
    )


def test_sms_wins_when_phone_and_email_are_auto_verified(base_url: str, make_client: Callable[..., AppClient]) -> None:
    app = make_client(AutoVerifiedAttributes=["email", "phone_number"])
    attributes = {"email": "alice@example.com", "phone_number": "+14325551212"}

    response = app.sign_up(attributes=attributes)

    assert response["CodeDeliveryDetails"] == {
        "Destination": "+*******1212",
        "DeliveryMedium": "SMS",
        "AttributeName": "phone_number",
    }
    app.confirm("alice", last_code(base_url, "alice"))
    assert app.attributes("alice")["phone_number_verified"] == "true"
    assert "email_verified" not in app.attributes("alice")


@pytest.mark.parametrize(
    ("attribute", "destination", "masked"),
    [
        ("email", "alice@example.com", "a***@e***.com"),
        ("email", "j@mail.example.co.uk", "j***@m***.uk"),
        ("email", "bob@localhost", "b***@l***"),
        ("phone_number", "+14325551212", "+*******1212"),
    ],
)
def test_it_masks_destinations_like_cognito(attribute: str, destination: str, masked: str) -> None:
    assert mask_destination(attribute, destination) == masked


# --- Test endpoints ------------------------------------------------------------------------------


def test_the_outbox_lists_every_message_newest_last(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")
    demo.sign_up("bob", attributes={**ALICE, "email": "bob@example.com"})
    demo.resend("alice")

    messages = outbox(base_url)

    assert [m["username"] for m in messages] == ["alice", "bob", "alice"]
    assert all(set(m) == OUTBOX_KEYS for m in messages)
    assert messages[1] | {"code": "", "sent_at": ""} == {
        "username": "bob",
        "code": "",
        "destination": "bob@example.com",
        "medium": "EMAIL",
        "attribute": "email",
        "client_id": demo.client_id,
        "user_pool_id": demo.pool_id,
        "sent_at": "",
    }
    assert messages[0]["sent_at"] <= messages[2]["sent_at"]
    assert [m["code"] for m in outbox(base_url, "?username=alice")] == [
        messages[0]["code"],
        messages[2]["code"],
    ]
    assert len(outbox(base_url, "?destination=bob@example.com")) == 1


def test_the_outbox_can_be_emptied(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")

    http(base_url, "DELETE", "/_outbox")

    assert outbox(base_url) == []


def test_moto_reset_clears_the_emulator_state(base_url: str, demo: AppClient) -> None:
    demo.sign_up("alice")

    http(base_url, "POST", "/moto-api/reset")

    assert outbox(base_url) == []
    assert http(base_url, "GET", "/_requests") == []


def test_it_records_requests_without_secrets(demo: AppClient, base_url: str) -> None:
    demo.sign_up(
        "alice",
        ValidationData=[{"Name": "source", "Value": "portal"}],
        ClientMetadata={"portal": "demo"},
    )

    [recorded] = http(base_url, "GET", "/_requests")

    assert recorded["target"] == "SignUp"
    assert recorded["body"]["Password"] == "***"
    assert recorded["body"]["SecretHash"] == "***"
    assert recorded["body"]["ValidationData"] == [{"Name": "source", "Value": "portal"}]
    assert recorded["body"]["ClientMetadata"] == {"portal": "demo"}


def test_it_refuses_to_bind_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        start_in_thread("0.0.0.0")
