"""The Cognito seam: SecretHash, what each call sends, how answers and failures come back."""

import importlib.util

import botocore.exceptions
import pytest
from botocore.stub import ANY

from signup import cognito
from tests.conftest import CLIENT_SECRET
from tests.factories import SECRET_HASH_VECTORS

TARGET = cognito.Target(
    region="us-east-1",
    endpoint_url=None,
    user_pool_id="us-east-1_Example1",
    client_id="1example23456789abcdefghij",
    client_secret_env="ACME_CLIENT_SECRET",
    has_secret=True,
)


@pytest.mark.parametrize(("username", "client_id", "secret", "expected"), SECRET_HASH_VECTORS)
def test_secret_hash_matches_the_reference_vectors(username, client_id, secret, expected):
    assert cognito.secret_hash(username, client_id, secret) == expected


def test_secret_hash_is_not_the_latin1_value_moto_computes():
    assert (
        cognito.secret_hash(
            "jörg.müller@example.com", "4abcdefghij5klmnopqrst6uvw", "0123456789abcdefghijklmnopqrstuvwxyz0123456789ab"
        )
        != "tl5oxpV40hZcE8L5XB2ARIXx2rewiuSiSBsGheCYo8g="
    )


def test_sign_up_sends_every_parameter_with_the_hash_of_the_exact_username(stub):
    call = cognito.SignUpCall(
        username="Alice",
        password="Str0ng!Passw0rd",
        attributes=[("email", "a@example.com")],
        validation_data=[("invite_code", "XYZ")],
        client_metadata={"campaign": "spring"},
        analytics_endpoint_id="endpoint-1",
        ip_address="203.0.113.9",
        encoded_data="ENCODED",
    )
    stub.add_response(
        "sign_up",
        {"UserConfirmed": False, "UserSub": "sub-1", "ResponseMetadata": {"RequestId": "req-1"}},
        {
            "ClientId": TARGET.client_id,
            "SecretHash": cognito.secret_hash("Alice", TARGET.client_id, CLIENT_SECRET),
            "Username": "Alice",
            "Password": "Str0ng!Passw0rd",
            "UserAttributes": [{"Name": "email", "Value": "a@example.com"}],
            "ValidationData": [{"Name": "invite_code", "Value": "XYZ"}],
            "ClientMetadata": {"campaign": "spring"},
            "AnalyticsMetadata": {"AnalyticsEndpointId": "endpoint-1"},
            "UserContextData": {"IpAddress": "203.0.113.9", "EncodedData": "ENCODED"},
        },
    )
    result = cognito.sign_up(TARGET, call)
    assert (result.user_sub, result.user_confirmed, result.request_id) == ("sub-1", False, "req-1")


def test_a_client_without_a_secret_gets_no_secret_hash(stub):
    target = cognito.Target(**{**TARGET.__dict__, "has_secret": False})
    stub.add_response(
        "sign_up",
        {"UserConfirmed": True, "UserSub": "sub-2"},
        {"ClientId": TARGET.client_id, "Username": "bob", "Password": "pw-Pw-1234!"},
    )
    assert cognito.sign_up(target, cognito.SignUpCall(username="bob", password="pw-Pw-1234!")).user_confirmed


def test_a_cognito_error_keeps_its_code_message_and_request_id(stub):
    stub.add_client_error(
        "sign_up",
        service_error_code="UsernameExistsException",
        service_message="User already exists",
        http_status_code=400,
        response_meta={"RequestId": "req-9"},
    )
    with pytest.raises(cognito.CognitoError) as raised:
        cognito.sign_up(TARGET, cognito.SignUpCall(username="bob", password="x"))
    assert (raised.value.code, raised.value.message, raised.value.request_id) == (
        "UsernameExistsException",
        "User already exists",
        "req-9",
    )


def test_a_missing_secret_variable_is_reported_not_sent(monkeypatch):
    monkeypatch.delenv("ACME_CLIENT_SECRET", raising=False)
    with pytest.raises(cognito.SecretUnavailable):
        cognito.sign_up(TARGET, cognito.SignUpCall(username="bob", password="x"))


def test_the_secret_may_come_from_a_file(monkeypatch, tmp_path):
    path = tmp_path / "secret"
    path.write_text("from-a-file\n")
    monkeypatch.delenv("ACME_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("ACME_CLIENT_SECRET_FILE", str(path))
    assert cognito.client_secret(TARGET) == "from-a-file"


def test_public_clients_never_retry_and_have_timeouts(settings):
    client = cognito.client_for("eu-west-1", None, public=True)
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.config.read_timeout == settings.COGNITO_READ_TIMEOUT
    assert client.meta.config.connect_timeout == settings.COGNITO_CONNECT_TIMEOUT
    assert cognito.client_for("eu-west-1", None, public=True) is client


def test_clients_keep_a_connection_for_every_thread_of_a_worker(settings):
    # botocore keeps 10; a gunicorn worker runs 32 threads that may each wait on Cognito at once.
    spec = importlib.util.spec_from_file_location("gunicorn_conf", settings.BASE_DIR / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    assert conf.threads <= settings.COGNITO_MAX_POOL_CONNECTIONS
    for public in (True, False):
        client = cognito.client_for("eu-west-1", None, public=public)
        assert client.meta.config.max_pool_connections == settings.COGNITO_MAX_POOL_CONNECTIONS


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), cognito.CognitoUnreachable),
        (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"), cognito.CognitoUnreachable),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), cognito.CognitoNoAnswer),
    ],
)
def test_network_failures_say_whether_the_request_may_have_arrived(stub, raised, expected, monkeypatch):
    client = cognito.client_for("us-east-1", None, public=True)

    def fail(**kwargs):
        raise raised

    monkeypatch.setattr(client, "sign_up", fail)
    with pytest.raises(expected):
        cognito.sign_up(TARGET, cognito.SignUpCall(username="bob", password="x"))


def test_confirm_and_resend_send_the_hash_of_their_own_username(stub):
    expected_hash = cognito.secret_hash("carol", TARGET.client_id, CLIENT_SECRET)
    stub.add_response(
        "confirm_sign_up",
        {},
        {"ClientId": TARGET.client_id, "Username": "carol", "ConfirmationCode": "123456", "SecretHash": expected_hash},
    )
    stub.add_response(
        "resend_confirmation_code",
        {"CodeDeliveryDetails": {"Destination": "c***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}},
        {"ClientId": TARGET.client_id, "Username": "carol", "SecretHash": expected_hash, "ClientMetadata": ANY},
    )
    cognito.confirm_sign_up(TARGET, username="carol", code="123456")
    result = cognito.resend_confirmation_code(TARGET, username="carol", client_metadata={"a": "b"})
    assert result.code_delivery == cognito.CodeDelivery("c***@e***", "EMAIL", "email")


def test_confirm_and_resend_carry_the_visitors_context_like_sign_up(stub):
    context = {"IpAddress": "203.0.113.7", "EncodedData": "device-fingerprint"}
    analytics = {"AnalyticsEndpointId": "endpoint-1"}
    for operation, answer in (("confirm_sign_up", {}), ("resend_confirmation_code", {})):
        stub.add_response(
            operation,
            answer,
            {
                "ClientId": TARGET.client_id,
                "Username": "carol",
                "SecretHash": ANY,
                "ClientMetadata": {"campaign": "spring"},
                "UserContextData": context,
                "AnalyticsMetadata": analytics,
                **({"ConfirmationCode": "123456"} if operation == "confirm_sign_up" else {}),
            },
        )
    visitor = {
        "client_metadata": {"campaign": "spring"},
        "ip_address": "203.0.113.7",
        "encoded_data": "device-fingerprint",
        "analytics_endpoint_id": "endpoint-1",
    }
    cognito.confirm_sign_up(TARGET, username="carol", code="123456", **visitor)
    cognito.resend_confirmation_code(TARGET, username="carol", **visitor)


def test_an_answer_that_is_not_the_operations_shape_is_no_answer(stub):
    # botocore turns a 200 with an HTML body into {"message": ...}; ConfirmSignUp's real answer is {}.
    client = cognito.client_for("us-east-1", None, public=True)
    stub.deactivate()
    try:
        garbage = {"ConfirmSignUp": {"message": "<html>oops</html>"}}
        with (
            cognito.answered_locally(client, garbage),
            pytest.raises(cognito.CognitoNoAnswer, match="unexpected answer"),
        ):
            cognito.confirm_sign_up(TARGET, username="carol", code="123456")
    finally:
        stub.activate()


def test_every_failure_is_one_family_with_a_code():
    for failure in (
        cognito.CognitoError("CodeMismatchException", "Invalid code", "req-1", 12),
        cognito.CognitoUnreachable("refused", latency_ms=3),
        cognito.CognitoNoAnswer("read timeout"),
        cognito.SecretUnavailable("no secret"),
    ):
        assert isinstance(failure, cognito.CognitoFailure)
        assert failure.code and failure.message
    assert [c.code for c in (cognito.CognitoUnreachable, cognito.CognitoNoAnswer, cognito.SecretUnavailable)] == [
        "EndpointConnectionError",
        "NoAnswer",
        "SecretUnavailable",
    ]


def test_an_answer_with_a_member_the_sdk_does_not_know_yet_is_still_an_answer(stub):
    # Cognito adds output members over time; an answer is refused only when it is an error's body.
    client = cognito.client_for("us-east-1", None, public=True)
    stub.deactivate()
    answer = {"UserConfirmed": False, "UserSub": "sub-9", "SomethingNew": {"x": 1}}
    try:
        with cognito.answered_locally(client, {"SignUp": answer}):
            result = cognito.sign_up(TARGET, cognito.SignUpCall(username="carol", password="Str0ng!Passw0rd"))
    finally:
        stub.activate()
    assert (result.user_sub, result.user_confirmed) == ("sub-9", False)
