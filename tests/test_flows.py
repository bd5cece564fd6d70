"""Use cases (flows/): the attempt lifecycle and what each Cognito answer means to the visitor and the record,
called with plain values as every channel calls them."""

import botocore.exceptions
import botocore.session
import pytest

from signup import cognito, flows, visitors
from signup.flows import Result, SignupRequest, StepRequest
from signup.messages import SIGNUP_ERRORS
from signup.models import SignupAttempt
from tests.factories import make_portal

pytestmark = pytest.mark.django_db

GOOD = {
    "username": "alice",
    "password": "Str0ng!Passw0rd",
    "email": "alice@example.com",
    "custom_company": "Acme",
}
VISITOR = flows.Visitor(client_ip="198.51.100.7", user_agent="pytest", client_metadata={"src": "test"})


def sign_up(portal, **changes):
    values = {
        "username": GOOD["username"],
        "password": GOOD["password"],
        "attributes": {"email": GOOD["email"], "custom:company": GOOD["custom_company"]},
        **changes,
    }
    return flows.signup_submit(portal=portal, request=SignupRequest(**values, visitor=VISITOR))


def step(username="alice", code=""):
    return StepRequest(username=username, code=code, visitor=VISITOR)


def codes(outcome):
    return {name: [problem.code for problem in found] for name, found in outcome.field_errors.items()}


def test_a_successful_sign_up_is_recorded_pending_then_succeeded(stub, client_secret):
    portal = make_portal()
    seen_during_call = []

    def spy(**kwargs):
        seen_during_call.extend(SignupAttempt.objects.values_list("status", flat=True))

    client = cognito.client_for("us-east-1", None, public=True)
    client.meta.events.register("before-parameter-build.cognito-identity-provider.SignUp", spy)
    stub.add_response(
        "sign_up",
        {
            "UserConfirmed": False,
            "UserSub": "sub-123",
            "CodeDeliveryDetails": {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"},
            "ResponseMetadata": {"RequestId": "req-42"},
        },
    )
    outcome = sign_up(portal)
    assert seen_during_call == ["pending"]
    attempt = SignupAttempt.objects.get()
    assert outcome.next_step == "confirm"
    assert attempt.status == "succeeded"
    assert (attempt.user_sub, attempt.request_id, attempt.user_confirmed) == ("sub-123", "req-42", False)
    assert attempt.code_delivery == {"destination": "a***@e***", "medium": "EMAIL", "attribute": "email"}
    assert attempt.attributes == {"email": "alice@example.com", "custom:company": "Acme"}  # nothing added
    assert attempt.latency_ms is not None and attempt.completed_at is not None
    assert (attempt.client_ip, attempt.user_agent, attempt.client_metadata) == (
        "198.51.100.7",
        "pytest",
        {"src": "test"},
    )
    assert "Str0ng!Passw0rd" not in repr(SignupAttempt.objects.values().get())


def test_a_user_confirmed_by_a_trigger_goes_straight_to_done(stub):
    portal = make_portal()
    stub.add_response("sign_up", {"UserConfirmed": True, "UserSub": "sub-1"})
    outcome = sign_up(portal)
    assert outcome.next_step == "done"
    assert outcome.attempt.confirmed_at is not None


def every_signup_error():
    model = botocore.session.get_session().get_service_model("cognito-idp")
    return [shape.name for shape in model.operation_model("SignUp").error_shapes]


def test_every_signup_error_in_the_service_model_has_a_mapping():
    assert set(every_signup_error()) <= set(SIGNUP_ERRORS)


@pytest.mark.parametrize("code", every_signup_error())
def test_each_signup_error_is_recorded_and_explained_without_cognitos_text(stub, code, settings):
    settings.SIGNUP_THROTTLE_RETRIES = 0  # the retry itself has its own tests
    portal = make_portal()
    stub.add_client_error(
        "sign_up", service_error_code=code, service_message=f"raw {code} text", response_meta={"RequestId": "req-e"}
    )
    outcome = sign_up(portal)
    attempt = SignupAttempt.objects.get()
    assert attempt.status == SIGNUP_ERRORS[code].status
    assert (attempt.error_code, attempt.error_message, attempt.request_id) == (code, f"raw {code} text", "req-e")
    shown = [p.message for found in outcome.field_errors.values() for p in found] + [outcome.general_error]
    assert any(shown) and not any("raw" in s for s in shown)


@pytest.mark.parametrize(
    ("code", "text", "field", "message_code"),
    [
        ("UsernameExistsException", "User already exists", "username", "username_taken"),
        ("UsernameExistsException", "An account with the given email already exists.", "username", "email_taken"),
        (
            "InvalidPasswordException",
            "Password did not conform with policy: Password must have symbol characters",
            "password",
            "password_rejected",
        ),
        ("InvalidParameterException", "Invalid email address format.", "email", "invalid_email"),
        ("InvalidParameterException", "Invalid phone number format.", "phone_number", "invalid_phone"),
        (
            "InvalidParameterException",
            "Attributes did not conform to the schema: custom:company: String must be no longer than 64 characters",
            "custom_company",
            "attribute_rejected",
        ),
        (
            "InvalidParameterException",
            "Username cannot be of email format, since user pool is configured for email alias.",
            "username",
            "username_looks_like_email",
        ),
        (
            "InvalidParameterException",
            "1 validation error detected: Value at 'username' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+",
            "username",
            "username_space",
        ),
    ],
)
def test_user_fixable_errors_land_on_their_field(stub, code, text, field, message_code):
    portal = make_portal()
    stub.add_client_error("sign_up", service_error_code=code, service_message=text)
    outcome = sign_up(portal)
    assert codes(outcome) == {field: [message_code]}
    assert outcome.general_error == ""


def test_a_sending_quota_after_creation_is_not_called_a_failure(stub):
    portal = make_portal()
    stub.add_client_error(
        "sign_up",
        service_error_code="LimitExceededException",
        service_message="Exceeded daily email limit for the operation or the account.",
    )
    outcome = sign_up(portal)
    assert outcome.attempt.status == "unknown"
    assert outcome.next_step == "confirm"


@pytest.mark.parametrize(
    ("failure", "status", "message_code"),
    [
        (botocore.exceptions.ReadTimeoutError(endpoint_url="https://cognito"), "unknown", "outcome_unknown"),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="https://cognito"), "failed", "try_again"),
    ],
)
def test_a_network_failure_is_recorded_as_unknown_or_failed(stub, monkeypatch, failure, status, message_code):
    """A read timeout may have created the user; a refused connection cannot have."""
    portal = make_portal()

    def fail(**kwargs):
        raise failure

    monkeypatch.setattr(cognito.client_for("us-east-1", None, public=True), "sign_up", fail)
    outcome = sign_up(portal)
    assert (outcome.attempt.status, outcome.general_error) == (status, message_code)


@pytest.mark.django_db(transaction=True)
def test_a_crash_mid_call_leaves_a_visible_pending_attempt(stub, monkeypatch):
    portal = make_portal()

    def die(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(cognito.client_for("us-east-1", None, public=True), "sign_up", die)
    with pytest.raises(SystemExit):
        sign_up(portal)
    attempt = SignupAttempt.objects.get()
    assert attempt.status == "pending"
    assert attempt.username == "alice"


def test_a_refused_form_is_recorded_as_invalid_without_calling_cognito(stub):
    portal = make_portal()
    outcome = sign_up(portal, password="weak", attributes={"email": "nope", "custom:company": "Acme"})
    assert outcome.result is Result.INVALID
    assert set(codes(outcome)) == {"password", "email"}
    assert "password_too_short" in codes(outcome)["password"]
    attempt = SignupAttempt.objects.get()
    assert attempt.status == "invalid"
    assert set(attempt.form_errors) == {"password", "email"}
    assert attempt.attributes == {"email": "nope", "custom:company": "Acme"}
    assert "weak" not in repr(SignupAttempt.objects.values().get())


def test_confirmation_and_resend_update_the_attempt(stub):
    portal = make_portal()
    attempt = SignupAttempt.objects.create(portal=portal, username="alice", status="succeeded")
    stub.add_response(
        "resend_confirmation_code",
        {"CodeDeliveryDetails": {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}},
    )
    stub.add_client_error(
        "confirm_sign_up",
        service_error_code="CodeMismatchException",
        service_message="Invalid verification code provided, please try again.",
    )
    stub.add_response("confirm_sign_up", {})
    assert flows.signup_resend(portal=portal, request=step()).ok
    wrong = flows.signup_confirm(portal=portal, request=step(code="000000"))
    assert (wrong.ok, wrong.result, codes(wrong)) == (False, Result.REJECTED, {"code": ["code_mismatch"]})
    assert flows.signup_confirm(portal=portal, request=step(code="123456")).ok
    attempt.refresh_from_db()
    assert attempt.resend_count == 1 and attempt.last_resent_at is not None
    assert attempt.confirmed_at is not None and attempt.user_confirmed is True


def test_confirming_an_already_confirmed_user_counts_as_done(stub):
    portal = make_portal()
    stub.add_client_error(
        "confirm_sign_up",
        service_error_code="NotAuthorizedException",
        service_message="User cannot be confirmed. Current status is CONFIRMED",
    )
    outcome = flows.signup_confirm(portal=portal, request=step(code="123456"))
    assert outcome.ok and outcome.already_confirmed


@pytest.mark.parametrize(
    ("meta", "trusted", "expected"),
    [
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}, 0, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 203.0.113.5"}, 1, "203.0.113.5"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 203.0.113.5, 10.0.0.2"}, 2, "203.0.113.5"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "not-an-ip"}, 1, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": ""}, 1, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}, 3, "10.0.0.1"),
        ({"REMOTE_ADDR": "2001:db8::1"}, 0, "2001:db8::1"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, meta, trusted, expected):
    settings.SIGNUP_TRUSTED_PROXY_COUNT = trusted
    assert visitors.client_ip(meta) == expected


def test_client_metadata_takes_only_allowed_bounded_query_parameters():
    portal = make_portal(client_metadata={"source": "portal"}, client_metadata_params=["campaign", "ref"])
    query = {"campaign": "spring", "ref": "x" * 257, "other": "no"}
    assert visitors.client_metadata_for(portal, query) == {"source": "portal", "campaign": "spring"}


def test_user_context_ip_is_sent_only_when_the_client_propagates_it(stub):
    portal = make_portal()
    portal.snapshot["propagate_user_context"] = True
    portal.save()
    stub.add_response(
        "sign_up",
        {"UserConfirmed": False, "UserSub": "s"},
        {
            "ClientId": portal.client_id,
            "SecretHash": cognito.secret_hash("alice", portal.client_id, "s3cret-value-for-tests-only"),
            "Username": "alice",
            "Password": GOOD["password"],
            "UserAttributes": [
                {"Name": "email", "Value": "alice@example.com"},
                {"Name": "custom:company", "Value": "Acme"},
            ],
            "ClientMetadata": {"src": "test"},
            "UserContextData": {"IpAddress": "198.51.100.7"},
        },
    )
    sign_up(portal)


@pytest.mark.parametrize("use_case", ["confirm", "resend", "submit"])
def test_an_unexpected_error_in_any_use_case_is_the_same_polite_outcome(stub, monkeypatch, use_case):
    """A bug of ours or the SDK's is a polite failure in every flow, never an exception for the channel."""
    portal = make_portal()

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(
        cognito, {"confirm": "confirm_sign_up", "resend": "resend_confirmation_code"}.get(use_case, "sign_up"), broken
    )
    if use_case == "submit":
        monkeypatch.setattr(flows.signup, "checked_form", broken)
        outcome = sign_up(portal)
    elif use_case == "confirm":
        outcome = flows.signup_confirm(portal=portal, request=step(code="123456"))
    else:
        outcome = flows.signup_resend(portal=portal, request=step())
    assert (outcome.result, outcome.general_error, outcome.error_code) == (Result.FAILED, "try_again", "RuntimeError")


def test_an_unexpected_error_during_the_call_leaves_the_attempt_unknown(stub, monkeypatch):
    portal = make_portal()

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cognito, "sign_up", broken)
    outcome = sign_up(portal)
    assert (outcome.result, outcome.general_error) == (Result.UNKNOWN, "outcome_unknown")
    assert SignupAttempt.objects.get().status == "unknown"


def test_a_channel_s_own_input_errors_refuse_the_sign_up_before_cognito(stub):
    portal = make_portal()
    problem = flows.Problem("given_twice", "UserAttributes email: given twice")
    request = SignupRequest(
        username="alice",
        password=GOOD["password"],
        attributes={"email": GOOD["email"], "custom:company": "Acme"},
        input_errors=(problem,),
    )
    outcome = flows.signup_submit(portal=portal, request=request)
    assert outcome.result is Result.INVALID
    assert codes(outcome) == {"__all__": ["given_twice"]}
    assert SignupAttempt.objects.get().status == "invalid"


def test_a_closed_portal_takes_no_step(stub):
    portal = make_portal(is_open=False)
    for outcome in (
        sign_up(portal),
        flows.signup_confirm(portal=portal, request=step(code="123456")),
        flows.signup_resend(portal=portal, request=step()),
    ):
        assert (outcome.result, outcome.general_error) == (Result.UNAVAILABLE, "not_available")
    assert not SignupAttempt.objects.exists()


def test_confirmations_past_the_hourly_limit_are_stopped_before_cognito(stub, settings):
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "confirm_per_username": "2/3600"}
    portal = make_portal()
    for _ in range(2):
        stub.add_client_error("confirm_sign_up", service_error_code="CodeMismatchException", service_message="no")
    outcomes = [flows.signup_confirm(portal=portal, request=step(code="000000")) for _ in range(3)]
    assert [o.result for o in outcomes] == [Result.REJECTED, Result.REJECTED, Result.LIMITED]
    assert outcomes[2].general_error == "too_many_attempts" and outcomes[2].retry_at is not None
    stub.assert_no_pending_responses()  # the third never reached Cognito
    # Another username has its own allowance; the pool's rule for case decides what "another" is.
    stub.add_response("confirm_sign_up", {})
    assert flows.signup_confirm(portal=portal, request=step(username="bob", code="123456")).ok


def test_an_unexpected_error_after_cognito_answered_keeps_the_attempt_and_says_unknown(stub, monkeypatch):
    """Cognito created the user, then recording it failed: the visitor is not told to try again."""
    portal = make_portal()
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})

    def locked(self, **kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(SignupAttempt, "mark_succeeded", locked)
    outcome = sign_up(portal)
    assert (outcome.result, outcome.general_error) == (Result.UNKNOWN, "outcome_unknown")
    assert outcome.attempt is not None and outcome.attempt.status == "unknown"


def test_requests_never_show_the_password_or_the_code():
    assert "s3cret!" not in repr(SignupRequest(username="alice", password="s3cret!"))
    assert "123456" not in repr(StepRequest(username="alice", code="123456"))


def test_a_yes_no_attribute_is_sent_only_when_given(stub):
    portal = make_portal()
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s2"})
    given = sign_up(portal, attributes={"email": GOOD["email"], "custom:newsletter": "false"})
    not_given = sign_up(portal, username="bob", attributes={"email": "bob@example.com"})
    assert given.attempt.attributes == {"email": GOOD["email"], "custom:newsletter": "false"}
    assert not_given.attempt.attributes == {"email": "bob@example.com"}


def test_a_repeated_submission_on_a_portal_hiding_accounts_answers_as_the_first_did(stub, client_secret):
    portal = make_portal(hide_existing_accounts=True)
    stub.add_client_error(
        "sign_up", service_error_code="UsernameExistsException", service_message="User already exists"
    )
    first = sign_up(portal, idempotency_key="form-1")
    again = sign_up(portal, idempotency_key="form-1")  # the same rendered form, sent twice
    assert (first.result, first.next_step) == (again.result, again.next_step) == (Result.OK, flows.NextStep.CONFIRM)
