"""IAM on the local Cognito (signup/emulator/iam.py): what a caller's policies let it call on which
pool, and what a refusal looks like, checked as real Cognito checks them.

Every test here runs on the session's emulator (shared with other modules): the `aws_iam` fixture
switches enforcement off again after each one, and setup (pools, users, IAM users) happens before a
test switches it on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from signup.emulator.demo import emulator_client
from signup.emulator.rules import secret_hash
from tests.aws_iam import ACCOUNT_ID, IamControl, Keys, allow, deny, merged, pool_arn

AMZ_JSON = "application/x-amz-json-1.1"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."
PASSWORD = "Str0ng!Passw0rd"
BOB = [
    {"Name": "email", "Value": "bob@example.com"},
    {"Name": "given_name", "Value": "Bob"},
    {"Name": "family_name", "Value": "Builder"},
]
NO_RETRIES = Config(retries={"total_max_attempts": 1}, read_timeout=20)

MISSING_TOKEN = ("MissingAuthenticationTokenException", "Missing Authentication Token")
UNRECOGNIZED_CLIENT = ("UnrecognizedClientException", "The security token included in the request is invalid.")
INVALID_SIGNATURE = (
    "InvalidSignatureException",
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details.",
)
INCOMPLETE_SIGNATURE = (
    "IncompleteSignatureException",
    "The Authorization header lacks a Credential scope, SignedHeaders, a Signature or an X-Amz-Date",
)
WRONG_SERVICE = ("InvalidSignatureException", "Credential should be scoped to correct service: 'cognito-idp'.")
BOGUS = Keys("nobody", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


# --- Fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
def admin(demo_pool: dict[str, str], emulator: str) -> Any:
    """A cognito-idp client for setting up while enforcement is off (IAM knows no key of it)."""
    return emulator_client(emulator)


@pytest.fixture
def pool_id(demo_pool: dict[str, str]) -> str:
    return demo_pool["user_pool_id"]


@pytest.fixture
def other_pool(admin: Any) -> str:
    return admin.create_user_pool(PoolName="other")["UserPool"]["Id"]


@pytest.fixture
def bob(admin: Any, pool_id: str) -> str:
    admin.admin_create_user(UserPoolId=pool_id, Username="bob", UserAttributes=BOB, MessageAction="SUPPRESS")
    return "bob"


def client(emulator: str, keys: Keys) -> Any:
    return keys.client(emulator, config=NO_RETRIES)


def unsigned_client(emulator: str) -> Any:
    return boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=emulator,
        config=NO_RETRIES.merge(Config(signature_version=UNSIGNED)),
    )


def refusal(call: Callable[[], Any]) -> tuple[int, str, str]:
    """HTTP status, error code and message of a call the SDK sees refused."""
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def denied(keys: Keys, operation: str, resource: str, *, explicit: bool = False) -> tuple[int, str, str]:
    """Cognito's refusal of `operation` on `resource` to the caller with `keys`."""
    action = f"cognito-idp:{operation}"
    reason = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {action} action"
    )
    message = f"User: {keys.arn} is not authorized to perform: {action} on resource: {resource} {reason}"
    return 400, "AccessDeniedException", message


def send(
    emulator: str,
    operation: str | None,
    params: dict[str, Any] | None = None,
    *,
    keys: Keys | None = None,
    target: str | None = None,
    query: str = "",
    body: bytes | None = None,
    service: str = "cognito-idp",
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """One raw POST to the emulator: `TARGET_PREFIX + operation` as the target unless `target` says
    otherwise ("": none), signed with `keys` (SigV4 for `service`) if given."""
    data = json.dumps(params or {}).encode() if body is None else body
    sent = {"Content-Type": AMZ_JSON, **(headers or {})}
    target = target if target is not None else (TARGET_PREFIX + operation if operation else "")
    if target:
        sent["X-Amz-Target"] = target
    url = f"{emulator}/{query}"
    if keys is not None:
        request = AWSRequest(method="POST", url=url, data=data, headers=sent)
        SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), service, "us-east-1").add_auth(request)
        sent = dict(request.headers.items())
    return requests.post(url, data=data, headers=sent, timeout=10)


def answer(response: requests.Response) -> tuple[int, str, dict[str, Any]]:
    return response.status_code, response.headers.get("Content-Type", ""), response.json()


def users(emulator: str, pool_id: str) -> dict[str, dict[str, Any]]:
    """The pool's users by name, through the emulator's test endpoint (never checked)."""
    listed = requests.get(f"{emulator}/_users", params={"user_pool_id": pool_id}, timeout=5)
    listed.raise_for_status()
    return {user["username"]: user for user in listed.json()["users"]}


def reset_auth(emulator: str, count: str) -> dict[str, Any]:
    response = requests.post(f"{emulator}/moto-api/reset-auth", data=count.encode(), timeout=5)
    response.raise_for_status()
    return response.json()


# --- The pool's ARN is the resource --------------------------------------------------------------


def test_a_user_allowed_on_one_pool_describes_that_pool_and_no_other(
    emulator: str, aws_iam: IamControl, pool_id: str, other_pool: str
) -> None:
    keys = aws_iam.user(allow(("DescribeDemo", ["cognito-idp:DescribeUserPool"], pool_arn(pool_id))))
    idp = client(emulator, keys)
    aws_iam.enforce()

    # moto's own enforcement checks every cognito-idp action against "*" and would refuse this.
    assert idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id
    assert refusal(lambda: idp.describe_user_pool(UserPoolId=other_pool)) == denied(
        keys, "DescribeUserPool", pool_arn(other_pool)
    )
    assert pool_arn(other_pool) == f"arn:aws:cognito-idp:us-east-1:{ACCOUNT_ID}:userpool/{other_pool}"


def test_a_refusal_is_cognitos_json_400(emulator: str, aws_iam: IamControl, pool_id: str, other_pool: str) -> None:
    keys = aws_iam.user(allow(("DescribeDemo", ["cognito-idp:DescribeUserPool"], pool_arn(pool_id))))
    aws_iam.enforce()

    response = send(emulator, "DescribeUserPool", {"UserPoolId": other_pool}, keys=keys)

    _, code, message = denied(keys, "DescribeUserPool", pool_arn(other_pool))
    assert answer(response) == (400, AMZ_JSON, {"__type": code, "message": message})
    assert len(response.headers["x-amzn-RequestId"]) == 36


OPERATIONS: dict[str, Callable[[Any, dict[str, str]], Any]] = {
    "DescribeUserPool": lambda idp, pool: idp.describe_user_pool(UserPoolId=pool["user_pool_id"]),
    "DescribeUserPoolClient": lambda idp, pool: idp.describe_user_pool_client(
        UserPoolId=pool["user_pool_id"], ClientId=pool["client_id"]
    ),
    "AdminGetUser": lambda idp, pool: idp.admin_get_user(UserPoolId=pool["user_pool_id"], Username="bob"),
}
OTHER_ACCOUNT = "999999999999"


@pytest.mark.parametrize(
    ("actions", "resource", "operation", "allowed"),
    [
        pytest.param(["cognito-idp:DescribeUserPool"], "*", "DescribeUserPool", True, id="any-resource"),
        pytest.param(
            ["cognito-idp:DescribeUserPool"],
            "arn:aws:cognito-idp:us-east-1:{account}:userpool/*",
            "DescribeUserPool",
            True,
            id="every-pool-of-the-account-and-region",
        ),
        pytest.param(
            ["cognito-idp:DescribeUserPool"],
            "arn:aws:cognito-idp:*:{account}:userpool/*",
            "DescribeUserPool",
            True,
            id="every-region",
        ),
        pytest.param(
            ["cognito-idp:DescribeUserPool"],
            "arn:aws:cognito-idp:eu-west-1:{account}:userpool/{pool}",
            "DescribeUserPool",
            False,
            id="another-region",
        ),
        pytest.param(
            ["cognito-idp:DescribeUserPool"],
            f"arn:aws:cognito-idp:us-east-1:{OTHER_ACCOUNT}:userpool/{{pool}}",
            "DescribeUserPool",
            False,
            id="another-account",
        ),
        pytest.param(
            ["cognito-idp:DescribeUserPool"],
            f"arn:aws:cognito-idp:us-east-1:{OTHER_ACCOUNT}:userpool/*",
            "DescribeUserPool",
            False,
            id="every-pool-of-another-account",
        ),
        pytest.param(
            ["cognito-idp:DescribeUserPool"],
            "arn:aws:cognito-idp:us-east-1:{account}:userpool/{pool}-old",
            "DescribeUserPool",
            False,
            id="a-pool-whose-id-starts-alike",
        ),
        pytest.param(["cognito-idp:Describe*"], "{arn}", "DescribeUserPoolClient", True, id="action-wildcard-matches"),
        pytest.param(["cognito-idp:Describe*"], "{arn}", "AdminGetUser", False, id="action-wildcard-does-not-match"),
        pytest.param(
            ["cognito-idp:DescribeUserPool"], "{arn}", "DescribeUserPoolClient", False, id="an-action-is-no-prefix"
        ),
        pytest.param(["cognito-idp:*"], "{arn}", "AdminGetUser", True, id="every-cognito-idp-action"),
        pytest.param(["*"], "{arn}", "AdminGetUser", True, id="every-action"),
        pytest.param(["cognito-identity:*"], "*", "DescribeUserPool", False, id="another-services-actions"),
        pytest.param(["Cognito-IDP:describeUSERpool"], "{arn}", "DescribeUserPool", True, id="actions-ignore-case"),
        pytest.param(
            ["cognito-idp:DescribeUserPool"],
            "arn:aws:cognito-idp:us-east-1:{account}:UserPool/{pool}",
            "DescribeUserPool",
            False,
            id="resources-do-not-ignore-case",
        ),
    ],
)
def test_what_a_policy_allows(
    emulator: str,
    aws_iam: IamControl,
    demo_pool: dict[str, str],
    bob: str,
    actions: list[str],
    resource: str,
    operation: str,
    allowed: bool,
) -> None:
    pool_id = demo_pool["user_pool_id"]
    resource = resource.format(account=ACCOUNT_ID, pool=pool_id, arn=pool_arn(pool_id))
    keys = aws_iam.user(allow(("Portal", actions, resource)))
    idp = client(emulator, keys)
    aws_iam.enforce()

    call = OPERATIONS[operation]
    if allowed:
        assert call(idp, demo_pool)["ResponseMetadata"]["HTTPStatusCode"] == 200
    else:
        assert refusal(lambda: call(idp, demo_pool)) == denied(keys, operation, pool_arn(pool_id))


def test_a_policy_listing_several_pools_allows_each_of_them_only(
    emulator: str, aws_iam: IamControl, admin: Any, pool_id: str, other_pool: str
) -> None:
    third = admin.create_user_pool(PoolName="third")["UserPool"]["Id"]
    keys = aws_iam.user(allow(("Both", ["cognito-idp:DescribeUserPool"], [pool_arn(pool_id), pool_arn(other_pool)])))
    idp = client(emulator, keys)
    aws_iam.enforce()

    assert idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id
    assert idp.describe_user_pool(UserPoolId=other_pool)["UserPool"]["Id"] == other_pool
    assert refusal(lambda: idp.describe_user_pool(UserPoolId=third)) == denied(
        keys, "DescribeUserPool", pool_arn(third)
    )


# --- Where the policy lives; an explicit Deny wins -----------------------------------------------


@pytest.mark.parametrize("where", ["inline", "managed", "group-inline", "group-managed"])
def test_a_policy_counts_wherever_it_is_attached(
    emulator: str, aws_iam: IamControl, pool_id: str, other_pool: str, where: str
) -> None:
    policy = allow(("DescribeDemo", ["cognito-idp:DescribeUserPool"], pool_arn(pool_id)))
    if where.startswith("group-"):
        group = aws_iam.group(policy, managed=where == "group-managed")
        keys = aws_iam.user(groups=[group])
    else:
        keys = aws_iam.user(policy, managed=where == "managed")
    idp = client(emulator, keys)
    aws_iam.enforce()

    assert idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id
    assert refusal(lambda: idp.describe_user_pool(UserPoolId=other_pool)) == denied(
        keys, "DescribeUserPool", pool_arn(other_pool)
    )


def test_a_user_without_any_policy_is_refused_everything(emulator: str, aws_iam: IamControl, pool_id: str) -> None:
    keys = aws_iam.user()
    idp = client(emulator, keys)
    aws_iam.enforce()

    assert refusal(lambda: idp.describe_user_pool(UserPoolId=pool_id)) == denied(
        keys, "DescribeUserPool", pool_arn(pool_id)
    )
    assert refusal(lambda: idp.list_user_pools(MaxResults=10)) == denied(keys, "ListUserPools", "*")


EVERYTHING = allow(("Everything", ["cognito-idp:*"], "*"))


def _no_deleting(pool_id: str) -> dict[str, Any]:
    return deny(("NoDeleting", ["cognito-idp:AdminDeleteUser"], pool_arn(pool_id)))


@pytest.mark.parametrize(
    "placement",
    [
        "same-policy",
        "deny-in-a-group",
        "deny-managed-on-a-group",
        "deny-managed-on-the-user-allow-in-a-group",
        "deny-inline-allow-managed-on-a-group",
    ],
)
def test_an_explicit_deny_beats_an_allow_wherever_each_is(
    emulator: str, aws_iam: IamControl, pool_id: str, bob: str, placement: str
) -> None:
    no_deleting = _no_deleting(pool_id)
    if placement == "same-policy":
        keys = aws_iam.user(merged(EVERYTHING, no_deleting))
    elif placement == "deny-in-a-group":
        keys = aws_iam.user(EVERYTHING, groups=[aws_iam.group(no_deleting)])
    elif placement == "deny-managed-on-a-group":
        keys = aws_iam.user(EVERYTHING, groups=[aws_iam.group(no_deleting, managed=True)])
    elif placement == "deny-managed-on-the-user-allow-in-a-group":
        keys = aws_iam.user(no_deleting, managed=True, groups=[aws_iam.group(EVERYTHING)])
    else:
        keys = aws_iam.user(no_deleting, groups=[aws_iam.group(EVERYTHING, managed=True)])
    idp = client(emulator, keys)
    aws_iam.enforce()

    assert refusal(lambda: idp.admin_delete_user(UserPoolId=pool_id, Username=bob)) == denied(
        keys, "AdminDeleteUser", pool_arn(pool_id), explicit=True
    )
    assert idp.admin_get_user(UserPoolId=pool_id, Username=bob)["Username"] == bob  # the Allow still holds
    assert bob in users(emulator, pool_id)


def test_a_deny_on_another_pool_leaves_this_one_allowed(
    emulator: str, aws_iam: IamControl, pool_id: str, other_pool: str, bob: str
) -> None:
    keys = aws_iam.user(merged(EVERYTHING, _no_deleting(other_pool)))
    idp = client(emulator, keys)
    aws_iam.enforce()

    idp.admin_delete_user(UserPoolId=pool_id, Username=bob)

    assert bob not in users(emulator, pool_id)


def test_a_deny_on_every_resource_beats_an_allow_on_the_pool(emulator: str, aws_iam: IamControl, pool_id: str) -> None:
    keys = aws_iam.user(
        merged(
            allow(("Describe", ["cognito-idp:DescribeUserPool"], pool_arn(pool_id))),
            deny(("NoDescribing", ["cognito-idp:Describe*"], "*")),
        )
    )
    idp = client(emulator, keys)
    aws_iam.enforce()

    assert refusal(lambda: idp.describe_user_pool(UserPoolId=pool_id)) == denied(
        keys, "DescribeUserPool", pool_arn(pool_id), explicit=True
    )


# --- Calls that name no pool are checked on "*" --------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "allowed"),
    [
        ("*", True),
        ("arn:aws:cognito-idp:us-east-1:{account}:userpool/*", False),
        ("arn:aws:cognito-idp:us-east-1:{account}:*", False),
    ],
)
@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("ListUserPools", lambda idp: idp.list_user_pools(MaxResults=60)),
        ("CreateUserPool", lambda idp: idp.create_user_pool(PoolName="made-by-the-caller")),
    ],
)
def test_calls_naming_no_pool_are_checked_on_every_resource(
    emulator: str,
    aws_iam: IamControl,
    pool_id: str,
    operation: str,
    call: Callable[[Any], Any],
    resource: str,
    allowed: bool,
) -> None:
    keys = aws_iam.user(allow(("Portal", [f"cognito-idp:{operation}"], resource.format(account=ACCOUNT_ID))))
    idp = client(emulator, keys)
    aws_iam.enforce()

    if allowed:
        assert call(idp)["ResponseMetadata"]["HTTPStatusCode"] == 200
    else:
        assert refusal(lambda: call(idp)) == denied(keys, operation, "*")


def test_list_user_pools_allowed_on_every_resource_lists_them_all(
    emulator: str, aws_iam: IamControl, pool_id: str, other_pool: str
) -> None:
    keys = aws_iam.user(allow(("List", ["cognito-idp:ListUserPools"], "*")))
    idp = client(emulator, keys)
    aws_iam.enforce()

    listed = idp.list_user_pools(MaxResults=60)["UserPools"]

    assert {pool["Id"] for pool in listed} == {pool_id, other_pool}


# --- Who is calling: signature and keys ----------------------------------------------------------


@pytest.fixture
def describer(aws_iam: IamControl, pool_id: str) -> Keys:
    return aws_iam.user(allow(("Describe", ["cognito-idp:DescribeUserPool"], pool_arn(pool_id))))


def _wrong_secret(keys: Keys) -> Keys:
    return Keys(keys.user_name, keys.access_key_id, "not-" + keys.secret_access_key)


@pytest.mark.parametrize(
    ("signer", "service", "expected"),
    [
        pytest.param(lambda keys: None, "cognito-idp", MISSING_TOKEN, id="unsigned"),
        pytest.param(lambda keys: BOGUS, "cognito-idp", UNRECOGNIZED_CLIENT, id="unknown-key"),
        pytest.param(_wrong_secret, "cognito-idp", INVALID_SIGNATURE, id="wrong-secret"),
        pytest.param(lambda keys: keys, "iam", WRONG_SERVICE, id="signed-for-another-service"),
    ],
)
def test_a_caller_that_cannot_be_verified_gets_cognitos_400(
    emulator: str,
    aws_iam: IamControl,
    pool_id: str,
    describer: Keys,
    signer: Callable[[Keys], Keys | None],
    service: str,
    expected: tuple[str, str],
) -> None:
    aws_iam.enforce()

    response = send(emulator, "DescribeUserPool", {"UserPoolId": pool_id}, keys=signer(describer), service=service)

    code, message = expected
    assert answer(response) == (400, AMZ_JSON, {"__type": code, "message": message})
    assert len(response.headers["x-amzn-RequestId"]) == 36


SCOPE = "Credential={key}/20261206/us-east-1/cognito-idp/aws4_request"


@pytest.mark.parametrize(
    ("authorization", "dated", "expected"),
    [
        pytest.param("Bearer eyJhbGciOiJIUzI1NiJ9", True, INCOMPLETE_SIGNATURE, id="bearer-token"),
        pytest.param(
            "AWS4-HMAC-SHA256 Credential={key}/20261206/us-east-1/cognito-idp, SignedHeaders=host, Signature=0a",
            True,
            INCOMPLETE_SIGNATURE,
            id="scope-too-short",
        ),
        pytest.param(f"AWS4-HMAC-SHA256 {SCOPE}, SignedHeaders=host", True, INCOMPLETE_SIGNATURE, id="no-signature"),
        pytest.param(f"AWS4-HMAC-SHA256 {SCOPE}, Signature=0a", True, INCOMPLETE_SIGNATURE, id="no-signed-headers"),
        pytest.param(
            f"AWS4-HMAC-SHA256 {SCOPE}, SignedHeaders=host;x-amz-date, Signature=0a",
            False,
            INCOMPLETE_SIGNATURE,
            id="no-x-amz-date",
        ),
        pytest.param(
            f"AWS4-HMAC-SHA256 {SCOPE}, SignedHeaders=host, Signature=0a",
            True,
            INVALID_SIGNATURE,
            id="x-amz-date-not-signed",
        ),
        pytest.param(
            f"AWS4-HMAC-SHA256 {SCOPE}, SignedHeaders=host;x-amz-date, Signature=0a",
            True,
            INVALID_SIGNATURE,
            id="wrong-signature",
        ),
    ],
)
def test_a_malformed_authorization_header_gets_cognitos_400(
    emulator: str,
    aws_iam: IamControl,
    pool_id: str,
    describer: Keys,
    authorization: str,
    dated: bool,
    expected: tuple[str, str],
) -> None:
    headers = {"Authorization": authorization.format(key=describer.access_key_id)}
    if dated:
        headers["X-Amz-Date"] = "20261206T000000Z"
    aws_iam.enforce()

    response = send(emulator, "DescribeUserPool", {"UserPoolId": pool_id}, headers=headers)

    code, message = expected
    assert answer(response) == (400, AMZ_JSON, {"__type": code, "message": message})


def test_a_body_changed_after_signing_is_refused(
    emulator: str, aws_iam: IamControl, pool_id: str, describer: Keys
) -> None:
    signed = AWSRequest(
        method="POST",
        url=f"{emulator}/",
        data=json.dumps({"UserPoolId": pool_id}).encode(),
        headers={"Content-Type": AMZ_JSON, "X-Amz-Target": TARGET_PREFIX + "DescribeUserPool"},
    )
    credentials = Credentials(describer.access_key_id, describer.secret_access_key)
    SigV4Auth(credentials, "cognito-idp", "us-east-1").add_auth(signed)
    aws_iam.enforce()

    changed = json.dumps({"UserPoolId": pool_id, "Extra": 1}).encode()
    response = send(emulator, None, body=changed, headers=dict(signed.headers.items()))

    assert answer(response) == (400, AMZ_JSON, {"__type": INVALID_SIGNATURE[0], "message": INVALID_SIGNATURE[1]})


@pytest.mark.parametrize(
    ("make_client", "expected"),
    [
        pytest.param(lambda emulator, keys: unsigned_client(emulator), MISSING_TOKEN, id="unsigned"),
        pytest.param(lambda emulator, keys: client(emulator, BOGUS), UNRECOGNIZED_CLIENT, id="unknown-key"),
        pytest.param(
            lambda emulator, keys: client(emulator, _wrong_secret(keys)), INVALID_SIGNATURE, id="wrong-secret"
        ),
    ],
)
def test_the_sdk_reads_each_refusal_as_cognitos_error(
    emulator: str,
    aws_iam: IamControl,
    pool_id: str,
    describer: Keys,
    make_client: Callable[[str, Keys], Any],
    expected: tuple[str, str],
) -> None:
    idp = make_client(emulator, describer)
    aws_iam.enforce()

    assert refusal(lambda: idp.describe_user_pool(UserPoolId=pool_id)) == (400, *expected)


def test_the_right_keys_through_the_standard_chain_work(
    emulator: str, aws_iam: IamControl, pool_id: str, describer: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in describer.env().items():
        monkeypatch.setenv(name, value)
    idp = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=emulator, config=NO_RETRIES)
    aws_iam.enforce()

    assert idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id


# --- Public operations are never checked ---------------------------------------------------------


def _sign_up_params(pool: dict[str, str], username: str) -> dict[str, Any]:
    return {
        "ClientId": pool["client_id"],
        "Username": username,
        "SecretHash": secret_hash(username, pool["client_id"], pool["client_secret"]),
    }


def _sign_up(idp: Any, pool: dict[str, str], username: str) -> dict[str, Any]:
    attributes = {"email": f"{username}@example.com", "given_name": username.title(), "family_name": "Tester"}
    return idp.sign_up(
        **_sign_up_params(pool, username),
        Password=PASSWORD,
        UserAttributes=[{"Name": name, "Value": value} for name, value in attributes.items()],
    )


def _last_code(emulator: str, username: str) -> str:
    sent = requests.get(f"{emulator}/_outbox", params={"username": username}, timeout=5).json()
    return sent[-1]["code"]


def test_sign_up_confirm_and_resend_work_unsigned_while_everything_else_is_checked(
    emulator: str, aws_iam: IamControl, demo_pool: dict[str, str]
) -> None:
    idp = unsigned_client(emulator)
    aws_iam.enforce()

    signed_up = _sign_up(idp, demo_pool, "carol")
    resent = idp.resend_confirmation_code(**_sign_up_params(demo_pool, "carol"))
    idp.confirm_sign_up(**_sign_up_params(demo_pool, "carol"), ConfirmationCode=_last_code(emulator, "carol"))

    assert signed_up["UserConfirmed"] is False
    assert resent["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert len(requests.get(f"{emulator}/_outbox", params={"username": "carol"}, timeout=5).json()) == 2
    assert users(emulator, demo_pool["user_pool_id"])["carol"]["status"] == "CONFIRMED"
    # Enforcement was on all along: a non-public call from the same client is refused.
    assert refusal(lambda: idp.describe_user_pool(UserPoolId=demo_pool["user_pool_id"])) == (400, *MISSING_TOKEN)


@pytest.mark.parametrize(
    "signer",
    [
        pytest.param(lambda keys: BOGUS, id="unknown-key"),
        pytest.param(_wrong_secret, id="wrong-secret"),
    ],
)
def test_a_public_call_with_a_signature_iam_would_refuse_still_works(
    emulator: str, aws_iam: IamControl, demo_pool: dict[str, str], describer: Keys, signer: Callable[[Keys], Keys]
) -> None:
    keys = signer(describer)
    aws_iam.enforce()

    response = send(
        emulator,
        "SignUp",
        {
            **_sign_up_params(demo_pool, "dave"),
            "Password": PASSWORD,
            "UserAttributes": [
                {"Name": "email", "Value": "dave@example.com"},
                {"Name": "given_name", "Value": "Dave"},
                {"Name": "family_name", "Value": "Lister"},
            ],
        },
        keys=keys,
    )

    assert response.status_code == 200, response.text
    assert users(emulator, demo_pool["user_pool_id"])["dave"]["status"] == "UNCONFIRMED"


def test_a_public_call_moto_answers_works_unsigned(
    emulator: str, aws_iam: IamControl, admin: Any, demo_pool: dict[str, str]
) -> None:
    pool_id, client_id = demo_pool["user_pool_id"], demo_pool["client_id"]
    admin.admin_create_user(UserPoolId=pool_id, Username="erin", UserAttributes=BOB, MessageAction="SUPPRESS")
    admin.admin_set_user_password(UserPoolId=pool_id, Username="erin", Password=PASSWORD, Permanent=True)
    idp = unsigned_client(emulator)
    aws_iam.enforce()

    signed_in = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={
            "USERNAME": "erin",
            "PASSWORD": PASSWORD,
            "SECRET_HASH": secret_hash("erin", client_id, demo_pool["client_secret"]),
        },
    )
    token = signed_in["AuthenticationResult"]["AccessToken"]

    assert idp.get_user(AccessToken=token)["Username"] == "erin"


# --- The allowance of unchecked calls (POST /moto-api/reset-auth) --------------------------------


@pytest.mark.parametrize("allowance", [1, 3])
def test_the_next_n_calls_pass_unchecked_and_the_one_after_is_checked(
    emulator: str, aws_iam: IamControl, pool_id: str, allowance: int
) -> None:
    idp = client(emulator, BOGUS)
    reset_auth(emulator, str(allowance))

    for _ in range(allowance):
        assert idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id
    assert refusal(lambda: idp.describe_user_pool(UserPoolId=pool_id)) == (400, *UNRECOGNIZED_CLIENT)
    assert refusal(lambda: idp.describe_user_pool(UserPoolId=pool_id)) == (400, *UNRECOGNIZED_CLIENT)


def test_reset_auth_reports_the_previous_allowance(emulator: str, aws_iam: IamControl) -> None:
    assert reset_auth(emulator, "inf") == {"status": "ok", "PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT": "inf"}
    assert reset_auth(emulator, "5")["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"] == "inf"
    assert float(reset_auth(emulator, "0")["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]) == 5
    assert float(reset_auth(emulator, "inf")["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]) == 0


def test_with_an_infinite_allowance_nothing_is_checked(emulator: str, aws_iam: IamControl, pool_id: str) -> None:
    reset_auth(emulator, "0")
    reset_auth(emulator, "inf")

    for _ in range(5):
        assert client(emulator, BOGUS).describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id
    assert unsigned_client(emulator).describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id
    assert send(emulator, "DescribeUserPool", {"UserPoolId": pool_id}, keys=_wrong_secret(BOGUS)).status_code == 200


def test_public_calls_and_other_services_count_against_the_same_allowance(
    emulator: str, aws_iam: IamControl, demo_pool: dict[str, str]
) -> None:
    iam = boto3.client(
        "iam",
        region_name="us-east-1",
        endpoint_url=emulator,
        aws_access_key_id=BOGUS.access_key_id,
        aws_secret_access_key=BOGUS.secret_access_key,
        config=NO_RETRIES,
    )
    reset_auth(emulator, "2")

    iam.list_users()  # moto's IAM checks and counts this one itself
    _sign_up(unsigned_client(emulator), demo_pool, "frank")  # public, answered by the emulator

    assert refusal(lambda: client(emulator, BOGUS).list_user_pools(MaxResults=1)) == (400, *UNRECOGNIZED_CLIENT)


# --- A refused call changes nothing --------------------------------------------------------------


REFUSED_CHANGES: list[Any] = [
    pytest.param(
        "AdminDeleteUser",
        lambda idp, pool_id: idp.admin_delete_user(UserPoolId=pool_id, Username="bob"),
        id="delete-user",
    ),
    pytest.param(
        "AdminUpdateUserAttributes",
        lambda idp, pool_id: idp.admin_update_user_attributes(
            UserPoolId=pool_id, Username="bob", UserAttributes=[{"Name": "given_name", "Value": "Mallory"}]
        ),
        id="update-attributes",
    ),
    pytest.param(
        "AdminDisableUser",
        lambda idp, pool_id: idp.admin_disable_user(UserPoolId=pool_id, Username="bob"),
        id="disable-user",
    ),
    pytest.param(
        "AdminCreateUser",
        lambda idp, pool_id: idp.admin_create_user(UserPoolId=pool_id, Username="mallory", MessageAction="SUPPRESS"),
        id="create-user",
    ),
]


@pytest.mark.parametrize(("operation", "call"), REFUSED_CHANGES)
def test_a_refused_call_leaves_the_pools_users_as_they_were(
    emulator: str,
    aws_iam: IamControl,
    pool_id: str,
    bob: str,
    operation: str,
    call: Callable[[Any, str], Any],
) -> None:
    before = users(emulator, pool_id)
    keys = aws_iam.user(allow(("Describe", ["cognito-idp:Describe*"], "*")))
    idp = client(emulator, keys)
    aws_iam.enforce()

    assert refusal(lambda: call(idp, pool_id)) == denied(keys, operation, pool_arn(pool_id))

    assert users(emulator, pool_id) == before
    assert before["bob"]["enabled"] is True
    assert before["bob"]["attributes"]["given_name"] == "Bob"


def test_a_refused_pool_deletion_leaves_the_pool(emulator: str, aws_iam: IamControl, pool_id: str) -> None:
    keys = aws_iam.user(allow(("Describe", ["cognito-idp:DescribeUserPool"], "*")))
    idp = client(emulator, keys)
    aws_iam.enforce()

    assert refusal(lambda: idp.delete_user_pool(UserPoolId=pool_id)) == denied(
        keys, "DeleteUserPool", pool_arn(pool_id)
    )
    assert idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id


def test_a_refused_pool_creation_creates_no_pool(emulator: str, aws_iam: IamControl, pool_id: str) -> None:
    keys = aws_iam.user(allow(("List", ["cognito-idp:ListUserPools"], "*")))
    idp = client(emulator, keys)
    aws_iam.enforce()

    assert refusal(lambda: idp.create_user_pool(PoolName="sneaky")) == denied(keys, "CreateUserPool", "*")
    assert [pool["Id"] for pool in idp.list_user_pools(MaxResults=60)["UserPools"]] == [pool_id]


# --- The body reaches moto intact ----------------------------------------------------------------


@pytest.fixture
def user_admin(aws_iam: IamControl, pool_id: str) -> Keys:
    return aws_iam.user(
        allow(("Users", ["cognito-idp:AdminGetUser", "cognito-idp:AdminUpdateUserAttributes"], pool_arn(pool_id)))
    )


def test_an_allowed_call_gets_the_user_it_asked_for(
    emulator: str, aws_iam: IamControl, admin: Any, pool_id: str, bob: str, user_admin: Keys
) -> None:
    admin.admin_create_user(UserPoolId=pool_id, Username="zoe", MessageAction="SUPPRESS")
    idp = client(emulator, user_admin)
    aws_iam.enforce()

    got = idp.admin_get_user(UserPoolId=pool_id, Username=bob)

    assert got["Username"] == bob
    assert {a["Name"]: a["Value"] for a in got["UserAttributes"]}["email"] == "bob@example.com"
    assert idp.admin_get_user(UserPoolId=pool_id, Username="zoe")["Username"] == "zoe"


@pytest.mark.parametrize("size", [64 * 1024, 1024 * 1024])
def test_an_allowed_call_with_a_large_body_works(
    emulator: str, aws_iam: IamControl, pool_id: str, bob: str, user_admin: Keys, size: int
) -> None:
    idp = client(emulator, user_admin)
    metadata = {f"key-{index}": "x" * 1000 for index in range(size // 1000)}
    aws_iam.enforce()

    idp.admin_update_user_attributes(
        UserPoolId=pool_id,
        Username=bob,
        UserAttributes=[{"Name": "given_name", "Value": "Röbert ✓"}],
        ClientMetadata=metadata,
    )

    assert users(emulator, pool_id)[bob]["attributes"]["given_name"] == "Röbert ✓"


# --- What moto would run is what is checked ------------------------------------------------------

# moto takes the operation from an `Action` and the pool from a `UserPoolId` in the query string, or in a
# JSON body that also parses as a query string, before the X-Amz-Target and the JSON `UserPoolId`.


@pytest.mark.parametrize(
    ("target", "query", "extra"),
    [
        pytest.param("Whatever.AdminDeleteUser", "", {}, id="target-with-another-prefix"),
        pytest.param("", "?Action=AdminDeleteUser", {}, id="action-in-the-query-no-target"),
        pytest.param(TARGET_PREFIX + "DescribeUserPool", "?Action=AdminDeleteUser", {}, id="action-in-the-query"),
        pytest.param(
            TARGET_PREFIX + "DescribeUserPool", "", {"Note": "&Action=AdminDeleteUser&"}, id="action-in-the-body"
        ),
    ],
)
def test_a_call_moto_would_run_as_another_operation_is_checked_as_that_operation(
    emulator: str,
    aws_iam: IamControl,
    pool_id: str,
    bob: str,
    describer: Keys,
    target: str,
    query: str,
    extra: dict[str, str],
) -> None:
    aws_iam.enforce()

    response = send(
        emulator, None, {"UserPoolId": pool_id, "Username": bob, **extra}, keys=describer, target=target, query=query
    )

    _, code, message = denied(describer, "AdminDeleteUser", pool_arn(pool_id))
    assert answer(response) == (400, AMZ_JSON, {"__type": code, "message": message})
    assert bob in users(emulator, pool_id)


def test_a_public_call_moto_would_run_as_another_operation_needs_a_signature(
    emulator: str, aws_iam: IamControl, demo_pool: dict[str, str], bob: str
) -> None:
    pool_id = demo_pool["user_pool_id"]
    aws_iam.enforce()

    response = send(
        emulator,
        "InitiateAuth",
        {"ClientId": demo_pool["client_id"], "UserPoolId": pool_id, "Username": bob, "N": "&Action=AdminDeleteUser&"},
    )

    assert answer(response) == (400, AMZ_JSON, {"__type": MISSING_TOKEN[0], "message": MISSING_TOKEN[1]})
    assert bob in users(emulator, pool_id)


@pytest.mark.parametrize(
    ("query", "extra"),
    [
        pytest.param("?UserPoolId={other}", {}, id="pool-in-the-query"),
        pytest.param("", {"Note": "&UserPoolId={other}&"}, id="pool-in-the-body"),
    ],
)
def test_a_call_moto_would_run_on_another_pool_is_checked_on_that_pool(
    emulator: str,
    aws_iam: IamControl,
    admin: Any,
    pool_id: str,
    other_pool: str,
    query: str,
    extra: dict[str, str],
) -> None:
    admin.admin_create_user(UserPoolId=other_pool, Username="victim", MessageAction="SUPPRESS")
    keys = aws_iam.user(allow(("OwnPool", ["cognito-idp:AdminDeleteUser"], pool_arn(pool_id))))
    aws_iam.enforce()

    response = send(
        emulator,
        "AdminDeleteUser",
        {"UserPoolId": pool_id, "Username": "victim", **{k: v.format(other=other_pool) for k, v in extra.items()}},
        keys=keys,
        query=query.format(other=other_pool),
    )

    _, code, message = denied(keys, "AdminDeleteUser", pool_arn(other_pool))
    assert answer(response) == (400, AMZ_JSON, {"__type": code, "message": message})
    assert "victim" in users(emulator, other_pool)


def test_a_signed_call_with_a_query_string_is_verified_with_it(
    emulator: str, aws_iam: IamControl, pool_id: str, describer: Keys
) -> None:
    aws_iam.enforce()

    response = send(emulator, "DescribeUserPool", {"UserPoolId": pool_id}, keys=describer, query="?trace=1")

    assert response.status_code == 200, response.text
    assert response.json()["UserPool"]["Id"] == pool_id


# --- The emulator's test endpoints are not IAM's -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/_outbox", 200),
        ("DELETE", "/_outbox", 204),
        ("GET", "/_users?user_pool_id={pool}", 200),
        ("GET", "/_requests", 200),
        ("GET", "/_faults", 200),
        ("GET", "/_faults/log", 200),
    ],
)
def test_the_test_endpoints_are_neither_checked_nor_counted(
    emulator: str, aws_iam: IamControl, pool_id: str, method: str, path: str, status: int
) -> None:
    aws_iam.enforce(after=1)

    for _ in range(3):
        response = requests.request(method, emulator + path.format(pool=pool_id), timeout=5)
        assert response.status_code == status, response.text

    # The one unchecked call is still there: none of the above used it up.
    assert client(emulator, BOGUS).describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id
    assert refusal(lambda: client(emulator, BOGUS).describe_user_pool(UserPoolId=pool_id)) == (
        400,
        *UNRECOGNIZED_CLIENT,
    )


def test_the_users_endpoint_lists_users_while_enforcing(
    emulator: str, aws_iam: IamControl, pool_id: str, bob: str
) -> None:
    aws_iam.enforce()

    assert set(users(emulator, pool_id)) == {bob}
