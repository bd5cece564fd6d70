"""When Cognito throttles, fails or loses answers; and what the logs say (and never say)."""

import io
import json
import logging

import boto3
import pytest
from botocore.config import Config

from signup import cognito
from signup.logs import JsonFormatter
from signup.models import AttemptEvent, SignupAttempt
from tests.conftest import CLIENT_SECRET
from tests.factories import make_portal

pytestmark = pytest.mark.django_db

GOOD = {"username": "alice", "password": "Str0ng!Passw0rd", "email": "alice@example.com"}
PERSON = {**GOOD, "given_name": "Alice", "family_name": "Liddell"}


def test_throttling_is_retried_with_backoff_and_then_succeeds(client, stub, settings):
    settings.SIGNUP_THROTTLE_BUDGET_SECONDS = 5
    make_portal()
    for _ in range(2):
        stub.add_client_error("sign_up", service_error_code="TooManyRequestsException", service_message="Rate exceeded")
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    assert client.post("/signup/acme/", GOOD).status_code == 302
    attempt = SignupAttempt.objects.get()
    assert attempt.status == "succeeded"
    retries = attempt.events.filter(error_code="TooManyRequestsException").values_list("detail", flat=True)
    assert [d["retry"] for d in retries] == [1, 2]


def test_throttling_past_the_budget_fails_with_a_way_to_retry(client, stub, settings):
    settings.SIGNUP_THROTTLE_RETRIES = 2
    make_portal()
    for _ in range(3):
        stub.add_client_error("sign_up", service_error_code="TooManyRequestsException", service_message="Rate exceeded")
    page = client.post("/signup/acme/", GOOD).content.decode()
    assert "Please try again in a moment" in page
    assert 'value="alice@example.com"' in page
    assert SignupAttempt.objects.get().status == "failed"


def test_an_internal_error_is_never_retried_because_the_user_may_exist(client, stub):
    make_portal()
    stub.add_client_error(
        "sign_up", service_error_code="InternalErrorException", service_message="x", http_status_code=500
    )
    client.post("/signup/acme/", GOOD)  # a second call would find the stub empty and fail the test
    assert SignupAttempt.objects.get().status == "unknown"  # reconciliation asks Cognito later


def public_sign_up(emulator, pool, username):
    idp = boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=emulator,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )
    idp.sign_up(
        ClientId=pool["client_id"],
        Username=username,
        Password=PERSON["password"],
        SecretHash=cognito.secret_hash(username, pool["client_id"], pool["client_secret"]),
        UserAttributes=[
            {"Name": "email", "Value": "a@example.com"},
            {"Name": "given_name", "Value": "A"},
            {"Name": "family_name", "Value": "L"},
        ],
    )


def test_a_retry_after_an_unanswered_sign_up_finds_the_user_it_created(client, emulator, demo_pool, demo_portal):
    # The first SignUp reached Cognito, but its answer was lost: the attempt stayed unknown.
    public_sign_up(emulator, demo_pool, "alice")
    earlier = SignupAttempt.objects.create(
        portal=demo_portal, username="alice", status="unknown", error_code="NoAnswer"
    )
    response = client.post("/signup/demo/", PERSON)
    assert response.status_code == 302 and "/confirm/" in response["Location"]
    earlier.refresh_from_db()
    assert earlier.status == "succeeded" and earlier.user_sub
    current = SignupAttempt.objects.exclude(pk=earlier.pk).get()
    assert (current.status, current.error_code) == ("rejected", "UsernameExistsException")
    assert SignupAttempt.objects.filter(status="succeeded").count() == 1  # one user, one success


def test_without_an_unknown_attempt_a_taken_username_is_said_to_be_taken(client, emulator, demo_pool, demo_portal):
    public_sign_up(emulator, demo_pool, "alice")
    assert "already registered" in client.post("/signup/demo/", PERSON).content.decode()


def test_the_enumeration_guard_answers_a_taken_username_like_a_new_one(client, emulator, demo_pool, demo_portal):
    demo_portal.hide_existing_accounts = True
    demo_portal.save()
    public_sign_up(emulator, demo_pool, "alice")
    taken = client.post("/signup/demo/", PERSON)
    new = client.post("/signup/demo/", {**PERSON, "username": "bob", "email": "bob@example.com"})
    assert taken.status_code == new.status_code == 302
    taken_page = client.get(taken["Location"]).content.decode()
    new_page = client.get(new["Location"]).content.decode()
    strip = lambda page: page.replace("alice", "X").replace("bob", "X")  # noqa: E731
    assert "***@" not in taken_page and "***@" not in new_page
    assert strip(taken_page).count("We sent") == strip(new_page).count("We sent")


def test_logs_are_one_json_object_per_event_with_the_attempt_and_never_the_password(client, stub, caplog):
    make_portal()
    stub.add_client_error("sign_up", service_error_code="UsernameExistsException", service_message="User exists")
    with caplog.at_level(logging.INFO, logger="signup"):
        client.post("/signup/acme/", GOOD)
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(record)) for record in caplog.records if record.name == "signup"]
    attempt = SignupAttempt.objects.get()
    rejected = next(line for line in lines if line["event"] == "signup.rejected")
    assert rejected["attempt"] == str(attempt.reference) and rejected["code"] == "UsernameExistsException"
    assert {"time", "level", "logger", "event"} <= set(rejected)
    text = "\n".join(json.dumps(line) for line in lines)
    assert GOOD["password"] not in text and CLIENT_SECRET not in text and "alice@example.com" not in text


def test_the_console_handler_writes_json(settings):
    from logging.config import dictConfig

    stream = io.StringIO()
    dictConfig(
        {
            **settings.LOGGING,
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream}},
        }
    )
    from signup import logs

    logs.event("test.event", attempt="a1", count=2)
    assert json.loads(stream.getvalue().splitlines()[-1])["count"] == 2
    dictConfig(settings.LOGGING)


def test_throttle_events_are_part_of_the_story(client, stub):
    make_portal()
    stub.add_client_error("sign_up", service_error_code="TooManyRequestsException", service_message="Rate exceeded")
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    client.post("/signup/acme/", GOOD)
    kinds = list(AttemptEvent.objects.values_list("kind", "ok"))
    assert kinds == [("signup", False), ("signup", True)]


def set_faults(emulator, **plan):
    import requests

    requests.post(f"{emulator}/_faults", json=plan, timeout=5).raise_for_status()


@pytest.mark.parametrize("operation", ["ConfirmSignUp", "ResendConfirmationCode"])
def test_a_garbled_success_answer_is_no_answer_not_success(emulator, demo_pool, demo_portal, operation):
    # botocore alone parses a 200 whose body is not JSON into {}: ConfirmSignUp's success.
    public_sign_up(emulator, demo_pool, "alice")
    set_faults(emulator, rate=1, kinds=["garbage"], operations=[operation])
    target = demo_portal.target
    try:
        with pytest.raises(cognito.CognitoNoAnswer, match="not a JSON object"):
            if operation == "ConfirmSignUp":
                cognito.confirm_sign_up(target, username="alice", code="123456")
            else:
                cognito.resend_confirmation_code(target, username="alice")
    finally:
        set_faults(emulator, rate=0)


def test_a_garbled_confirmation_shows_a_retry_and_records_no_confirmation(client, emulator, demo_portal):
    confirm_url = client.post("/signup/demo/", PERSON)["Location"]
    set_faults(emulator, rate=1, kinds=["garbage"], operations=["ConfirmSignUp"])
    try:
        page = client.post(confirm_url, {"username": "alice", "code": "123456"})
    finally:
        set_faults(emulator, rate=0)
    assert page.status_code == 200
    assert "try again" in page.content.decode().lower()
    attempt = SignupAttempt.objects.get()
    assert attempt.confirmed_at is None and not attempt.user_confirmed
    assert AttemptEvent.objects.filter(attempt=attempt, kind="confirm", ok=True).count() == 0
