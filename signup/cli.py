"""The AWS CLI's conventions for `manage.py signup`, `confirm_signup` and `resend_code`.

Each command mirrors one `aws cognito-idp` command (AWS CLI v1): the option names come from botocore's
model of the operation, as the AWS CLI derives them; structured values take the CLI's shorthand
(`Name=email,Value=a@b.c`) or JSON, and any value may be `file://path`; `--cli-input-json` takes the
document `--generate-cli-skeleton input` prints, and options given on the command line replace its keys.

Where we differ from the AWS CLI, on purpose:
- ClientId is the portal's: when given it must be the portal's client. SecretHash is always computed from
  the exact username sent, which is what Cognito checks; a different one given is reported, not sent.
- An empty string counts as not given, so the skeleton's placeholders may stay in --cli-input-json
  (but a boolean placeholder is a value: the skeleton's `"ForceAliasCreation": true` is sent as true).
- Shorthand values are strings. A value with a comma is quoted ("a,b" or 'a,b', with \\" \\' \\\\ inside)
  or escapes it (a\\,b). The AWS CLI's unquoted lists (a,b), [..] and {..} literals and key@=file are
  not supported: JSON covers those.
- An empty response prints as {} (the AWS CLI v1 prints nothing), so the output always parses as JSON.
- `--generate-cli-skeleton output` needs no other option: it checks nothing and calls nothing.
- Exit codes: 0 done; 1 the portal refused (unknown, closed, not synced, the hourly resend limit);
  2 usage or validation error, nothing sent to Cognito; 254 Cognito answered with an error (AWS CLI v2's
  code; v1 exits 255); 255 no usable answer (unreachable, timed out, no client secret).
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from . import cognito, flows, permissions
from .forms import ConfirmForm
from .messages import message
from .models import Portal, SignupAttempt

USAGE_ERROR = 2
PORTAL_REFUSED = 1
SERVICE_ERROR = 254
NO_ANSWER = 255

# attempt.error_code / StepOutcome.error_code values that are ours, not Cognito's.
NO_ANSWER_CODES = {
    "SecretUnavailable": "Could not compute the SecretHash",
    cognito.CognitoUnreachable.code: "Could not connect to Cognito",
    cognito.CognitoNoAnswer.code: "No usable answer from Cognito; the outcome is unknown",
}
SHORTHAND_KEY = re.compile(r"[A-Za-z0-9_.#/:-]+")
SHORTHAND_NEXT_KEY = re.compile(r"\s*[A-Za-z0-9_.#/:-]+\s*=")


class CliFailure(CommandError):
    """A failure already worded for the operator. From the shell it is printed as is, with its exit code."""


def usage_error(text: str) -> CliFailure:
    return CliFailure(text, returncode=USAGE_ERROR)


# --- The operation's model: option names and skeletons ------------------------------------------


def operation_model(operation: str) -> Any:
    # The model ships with botocore; any of our clients carries it, and getting one calls nothing.
    return cognito.client_for("us-east-1", None, public=True).meta.service_model.operation_model(operation)


def option_name(member: str) -> str:
    """The AWS CLI's flag for a member: UserContextData -> user-context-data."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", member).lower()


def skeleton(shape: Any, *, member_names: bool = False, name: str = "", stack: tuple[str, ...] = ()) -> Any:
    """What the AWS CLI prints for a shape: botocore's ArgumentGenerator, rules and key order included."""
    kind = shape.type_name
    inner = (*stack, shape.name)
    if kind == "structure":
        if shape.name in stack:
            return {}
        return {m: skeleton(s, member_names=member_names, name=m, stack=inner) for m, s in shape.members.items()}
    if kind == "list":
        item_name = shape.member.name if member_names else ""
        return [skeleton(shape.member, member_names=member_names, name=item_name, stack=inner)]
    if kind == "map":
        return {"KeyName": skeleton(shape.value, member_names=member_names, stack=inner)}
    if kind == "string":
        if member_names:
            return name
        return shape.enum[0] if shape.enum else ""  # the AWS CLI picks an enum value at random
    if kind in ("integer", "long"):
        return 0
    if kind in ("float", "double"):
        return 0.0
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return "1970-01-01T00:00:00"
    return None


def operation_skeleton(operation: str, which: str) -> Any:
    model = operation_model(operation)
    if which == "output":
        return skeleton(model.output_shape, member_names=True) if model.output_shape else {}
    return skeleton(model.input_shape) if model.input_shape else {}


def in_shape_order(value: Any, shape: Any) -> Any:
    """A response with its keys in the model's order, as botocore parses it and the AWS CLI prints it."""
    if shape.type_name == "structure" and isinstance(value, dict):
        return {m: in_shape_order(value[m], s) for m, s in shape.members.items() if m in value}
    if shape.type_name == "list" and isinstance(value, list):
        return [in_shape_order(v, shape.member) for v in value]
    return value


def _syntax(shape: Any) -> str:
    if shape.type_name == "structure":
        return ",".join(f"{m}={_syntax(s)}" for m, s in shape.members.items())
    if shape.type_name == "map":
        return "KeyName1=string,KeyName2=string"
    return shape.type_name


def add_operation_arguments(parser: CommandParser, operation: str) -> None:
    """The AWS CLI's options for the operation, one per member of its input, plus its two JSON options."""
    for member, shape in operation_model(operation).input_shape.members.items():
        flag = f"--{option_name(member)}"
        if shape.type_name == "boolean":
            group = parser.add_mutually_exclusive_group()
            group.add_argument(flag, dest=member, action="store_true", default=None)
            group.add_argument(f"--no-{option_name(member)}", dest=member, action="store_false", default=None)
        elif shape.type_name == "list":
            parser.add_argument(
                flag, dest=member, nargs="+", metavar="ITEM", help=f"{_syntax(shape.member)} ..., or JSON"
            )
        elif shape.type_name in ("structure", "map"):
            parser.add_argument(flag, dest=member, metavar="VALUE", help=f"{_syntax(shape)}, or JSON")
        else:
            parser.add_argument(flag, dest=member, metavar=shape.type_name.upper())
    parser.add_argument(
        "--cli-input-json",
        metavar="JSON",
        help="The document --generate-cli-skeleton input prints, as a string or file://path; "
        "options on the command line replace its keys.",
    )
    parser.add_argument(
        "--generate-cli-skeleton",
        nargs="?",
        const="input",
        choices=["input", "output"],
        help="Print the JSON skeleton of the request (input, the default) or the response (output); call nothing.",
    )


# --- Reading values: file://, JSON, shorthand ---------------------------------------------------


def read_param(value: str, flag: str) -> str:
    """A value as given, or the text of the file a file:// value names (as the AWS CLI reads it)."""
    if not value.startswith("file://"):
        return value
    name = value.removeprefix("file://")
    try:
        path = Path(name).expanduser()  # RuntimeError for ~someone who does not exist
        return path.read_text(encoding="utf-8")  # ValueError for a NUL in the path
    except (OSError, UnicodeError, ValueError, RuntimeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise usage_error(f"{flag}: cannot read {name!r}: {reason}") from error


MAX_JSON_DEPTH = 16  # Cognito's deepest input (UserAttributes[].Value) is three levels down


def load_json(text: str, flag: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:  # the message names a position, never the content
        raise usage_error(f"{flag}: invalid JSON: {error}") from error
    except RecursionError as error:
        raise usage_error(f"{flag}: invalid JSON: nested more than {MAX_JSON_DEPTH} levels deep") from error
    if json_depth(value) > MAX_JSON_DEPTH:
        raise usage_error(f"{flag}: invalid JSON: nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed document, found without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            pending += [(child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


class ShorthandError(ValueError):
    pass


def _skip_spaces(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


def _quoted_value(text: str, start: int) -> tuple[str, int]:
    quote, index, chars = text[start], start + 1, []
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in (quote, "\\"):
            chars.append(text[index + 1])
            index += 2
        elif char == quote:
            return "".join(chars), index + 1
        else:
            chars.append(char)
            index += 1
    raise ShorthandError(f"the quote at position {start + 1} is not closed")


def _plain_value(text: str, index: int) -> tuple[str, int]:
    if text[index : index + 1] in ("[", "{"):
        raise ShorthandError(
            f"lists and {{...}} values are not supported in shorthand (position {index + 1}); use JSON"
        )
    chars = []
    while index < len(text):
        if text.startswith("\\,", index):
            chars.append(",")
            index += 2
        elif text[index] == ",":
            if not SHORTHAND_NEXT_KEY.match(text, index + 1):
                raise ShorthandError(
                    f'a value with a comma needs quotes, e.g. Value="a,b" (position {index + 1}); '
                    "separate items with a space"
                )
            break
        else:
            chars.append(text[index])
            index += 1
    return "".join(chars).rstrip(), index


def parse_shorthand(text: str) -> dict[str, str]:
    """`Key=value,Key2=value` into a dict of strings, with the AWS CLI's quoting and escaping."""
    result: dict[str, str] = {}
    index = _skip_spaces(text, 0)
    while True:
        match = SHORTHAND_KEY.match(text, index)
        if match is None:
            raise ShorthandError(f"expected a key at position {index + 1}")
        key = match.group()
        index = _skip_spaces(text, match.end())
        if text[index : index + 1] != "=":
            raise ShorthandError(f'expected "=" after {key} (position {index + 1})')
        index = _skip_spaces(text, index + 1)
        if text[index : index + 1] in ("'", '"'):
            value, index = _quoted_value(text, index)
        elif index < len(text):
            value, index = _plain_value(text, index)
        else:
            value = ""
        if key in result:
            raise ShorthandError(f'"{key}" is given twice; separate items with a space, not a comma')
        result[key] = value
        index = _skip_spaces(text, index)
        if index >= len(text):
            return result
        if text[index] != ",":
            raise ShorthandError(f'expected "," at position {index + 1}')
        index = _skip_spaces(text, index + 1)


def _shorthand(text: str, flag: str) -> dict[str, str]:
    try:
        return parse_shorthand(text)
    except ShorthandError as error:
        raise usage_error(f"{flag}: {error}") from error


def parse_option(value: Any, shape: Any, flag: str) -> Any:
    """One command-line option's value, shaped like the member it sets (JSON when it starts with [ or {)."""
    if isinstance(value, bool):
        return value
    if shape.type_name == "list":
        items = [read_param(v, flag) for v in value]
        if len(items) == 1 and items[0].lstrip().startswith("["):
            return load_json(items[0], flag)
        return [load_json(i, flag) if i.lstrip().startswith("{") else _shorthand(i, flag) for i in items]
    text = read_param(value, flag)
    if shape.type_name in ("structure", "map"):
        return load_json(text, flag) if text.lstrip().startswith("{") else _shorthand(text, flag)
    return text


def without_placeholders(value: Any) -> Any:
    """Drop empty strings, and the objects and lists they leave empty: the skeleton's placeholders."""
    if isinstance(value, dict):
        kept = {k: without_placeholders(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if not _is_empty(v)}
    if isinstance(value, list):
        return [v for v in (without_placeholders(v) for v in value) if not _is_empty(v)]
    return value


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | dict | list) and len(value) == 0)


def shape_problems(value: Any, shape: Any, path: str) -> list[str]:
    """What does not fit the model, like botocore's validation but never echoing a value (passwords)."""
    kind, where = shape.type_name, path or "input"
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        problems = []
        for key, item in value.items():
            if key not in shape.members:
                problems.append(f'Unknown parameter in {where}: "{key}", must be one of: {", ".join(shape.members)}')
            else:
                problems += shape_problems(item, shape.members[key], f"{path}.{key}" if path else key)
        if path:
            problems += [
                f'Missing required parameter in {where}: "{m}"' for m in shape.required_members if m not in value
            ]
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, item in enumerate(value) for p in shape_problems(item, shape.member, f"{path}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        problems = []
        for number, (key, item) in enumerate(value.items(), 1):
            problems += shape_problems(key, shape.key, f"{path} (key {number})")
            problems += shape_problems(item, shape.value, f"{path} (value {number})")
        return problems
    if kind == "string":
        return string_problems(value, shape, where)
    if kind == "boolean" and not isinstance(value, bool):
        return [f"{where}: expected true or false"]
    return []


def string_problems(value: Any, shape: Any, where: str) -> list[str]:
    """A string member: text Cognito can read, within the model's length (botocore checks only the minimum)."""
    if not isinstance(value, str):
        return [f"{where}: expected a string"]
    if "\x00" in value or not is_utf8(value):
        return [f"{where}: contains a NUL character or bytes that are not UTF-8"]
    longest = shape.metadata.get("max")
    if longest is not None and len(value) > longest:
        return [f"{where}: at most {longest} characters"]
    return []


def is_utf8(text: str) -> bool:
    """False for lone surrogates: what Python makes of a terminal's bytes that are not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def operation_params(options: dict[str, Any], operation: str) -> dict[str, Any]:
    """The request's parameters: --cli-input-json, then each option given, checked against the model."""
    shape = operation_model(operation).input_shape
    params: dict[str, Any] = {}
    if options.get("cli_input_json"):
        document = load_json(read_param(options["cli_input_json"], "--cli-input-json"), "--cli-input-json")
        if not isinstance(document, dict):
            raise usage_error("--cli-input-json: expected a JSON object")
        params.update(document)
    for member, member_shape in shape.members.items():
        if options.get(member) is not None:
            params[member] = parse_option(options[member], member_shape, f"--{option_name(member)}")
    params = without_placeholders(params)
    problems = shape_problems(params, shape, "")
    missing = [m for m in shape.required_members if m != "ClientId" and m not in params]
    problems += [f"--{option_name(m)} is required" for m in missing]
    if problems:
        raise usage_error("Parameter validation failed:\n" + "\n".join(problems))
    return params


def refuse_unsent(params: dict[str, Any], sent: set[str], operation: str) -> None:
    """Refuse what this portal cannot pass on to Cognito, rather than drop it silently."""
    unsent = []
    for key, value in params.items():
        if key in sent:
            continue
        if isinstance(value, dict) and any(path.startswith(f"{key}.") for path in sent):
            unsent += [f"{key}.{sub}" for sub in value if f"{key}.{sub}" not in sent]
        else:
            unsent.append(key)
    if unsent:
        raise usage_error(f"Not sent with {operation} by this portal, so refused: {', '.join(unsent)}")


# --- From parameters to the use cases -------------------------------------------------------


def portal_for(slug: str | None) -> Portal:
    if not slug:
        raise usage_error("Give the portal's slug first, e.g. `manage.py signup demo --username ...`.")
    portal = Portal.objects.filter(slug=slug).first()
    if portal is None:
        raise CliFailure(f"No portal '{slug}'.", returncode=PORTAL_REFUSED)
    return portal


def check_client_id(portal: Portal, params: dict[str, Any]) -> None:
    given = params.get("ClientId", "")
    if given and given != portal.client_id:
        raise usage_error(f"ClientId {given} is not the app client of portal '{portal.slug}' ({portal.client_id}).")


def secret_hash_warning(portal: Portal, username: str, given: str) -> str:
    """Why a SecretHash given will not be sent as given, or "" when it is the one we compute."""
    if not given:
        return ""
    target = portal.target
    if not target.has_secret:
        return "the app client has no secret, so the SecretHash given is not sent."
    try:
        secret = cognito.client_secret(target)
    except cognito.SecretUnavailable:
        return ""  # the call itself reports it
    if secret is None or cognito.secret_hash(username, portal.client_id, secret) == given:
        return ""
    return "the SecretHash given is not the one for this username and app client; the computed one is sent."


def visitor_from(portal: Portal, params: dict[str, Any], command: str) -> flows.Visitor:
    """The command line as the visitor: the portal's static ClientMetadata with the given keys on top."""
    analytics = params.get("AnalyticsMetadata", {}).get("AnalyticsEndpointId", "")
    if analytics and not cognito.ANALYTICS_ENDPOINT_ID.match(analytics):
        raise usage_error("AnalyticsMetadata.AnalyticsEndpointId: 1 to 128 letters, digits, _ . : or -.")
    user_context = params.get("UserContextData", {})
    ip = user_context.get("IpAddress", "")
    if ip:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError as error:
            raise usage_error("UserContextData.IpAddress: not an IP address.") from error
        if getattr(address, "scope_id", None):
            raise usage_error("UserContextData.IpAddress: give the address without a zone (%…).")
        ip = str(address)
    encoded = user_context.get("EncodedData", "")
    if len(encoded) > cognito.MAX_ENCODED_DATA or not encoded.isprintable():
        raise usage_error(f"UserContextData.EncodedData: printable text of at most {cognito.MAX_ENCODED_DATA}.")
    metadata = {str(k): str(v) for k, v in (portal.client_metadata or {}).items()}
    return flows.Visitor(
        channel=SignupAttempt.Channel.CLI,
        client_ip=ip or None,
        user_agent=f"manage.py {command}",
        client_metadata={**metadata, **params.get("ClientMetadata", {})},
        analytics_endpoint_id=analytics,
        encoded_data=encoded,
    )


def ip_address_warning(portal: Portal, visitor: flows.Visitor) -> str:
    if visitor.client_ip and not portal.user_context_ip(visitor.client_ip):
        return (
            "UserContextData.IpAddress is not sent: Cognito honours it only from an app client with a secret "
            "that propagates additional user context data."
        )
    return ""


def delivery_details(delivery: dict[str, str] | None) -> dict[str, str]:
    """An attempt's stored code_delivery, back under Cognito's names."""
    names = {"destination": "Destination", "medium": "DeliveryMedium", "attribute": "AttributeName"}
    return {names[k]: v for k, v in (delivery or {}).items() if k in names and v}


def failure_for(operation: str, code: str, text: str, attempt: SignupAttempt | None) -> CliFailure:
    """Cognito's error as the AWS CLI words it (exit 254), or why no answer came (exit 255)."""
    if code in NO_ANSWER_CODES:
        line, returncode = f"{NO_ANSWER_CODES[code]}: {text}", NO_ANSWER
    else:
        line, returncode = f"An error occurred ({code}) when calling the {operation} operation: {text}", SERVICE_ERROR
    if attempt is not None:
        line += f"\nAttempt {attempt.reference}."
    return CliFailure(line, returncode=returncode)


def confirm_form_values(params: dict[str, Any], *, resend: bool) -> tuple[str, str]:
    """Username and code, checked and normalised by the confirmation page's own form."""
    data = {"username": params.get("Username", ""), "code": params.get("ConfirmationCode", "")}
    form = ConfirmForm(data=data, resend=resend)
    if not form.is_valid():
        labels = {"username": "Username", "code": "ConfirmationCode"}
        lines = [f"{labels.get(name, name)}: {error}" for name, errors in form.errors.items() for error in errors]
        raise usage_error("Parameter validation failed:\n" + "\n".join(lines))
    return form.cleaned_data["username"], form.cleaned_data.get("code", "")


def step_failure(operation: str, outcome: flows.Outcome, attempt: SignupAttempt | None) -> CliFailure:
    """A confirmation or resend that did not go through: Cognito's error, or our own refusal."""
    if outcome.error_code:
        failure = failure_for(operation, outcome.error_code, outcome.error_message, attempt)
        if outcome.already_confirmed and attempt is not None:
            failure.args = (f"{failure}\nThe user is confirmed already, and the attempt now says so.",)
        return failure
    # Refused here, without a call: the hourly resend limit.
    text = outcome.explanation or message(outcome.general_error or "try_again")
    return CliFailure(f"Nothing was sent to Cognito: {text}", returncode=PORTAL_REFUSED)


# --- The commands' common frame ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    username: str
    code: str
    visitor: flows.Visitor
    attempt: SignupAttempt | None


class OperationCommand(BaseCommand):
    """One Cognito operation, with the AWS CLI's options; subclasses say what runs it."""

    operation = ""  # e.g. "SignUp"
    sent: set[str] = set()  # the members (or Member.Field) the portal passes on; others are refused

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", nargs="?", help="The portal (give it before options that take several values).")
        add_operation_arguments(parser, self.operation)

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except CliFailure as failure:
            # From the shell: the AWS CLI's wording without Django's "CommandError:" prefix, and its exit code.
            # From call_command the failure propagates, so callers and tests see the message and the code.
            if not getattr(self, "_called_from_command_line", False):
                raise
            self.stderr.write(str(failure))
            sys.exit(failure.returncode)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate_cli_skeleton"]:
            self.write_json(operation_skeleton(self.operation, options["generate_cli_skeleton"]))
            return
        params = operation_params(options, self.operation)
        refuse_unsent(params, self.sent, self.operation)
        portal = portal_for(options["slug"])
        self.check_portal(portal)
        check_client_id(portal, params)
        self.run(portal, params)

    def check_portal(self, portal: Portal) -> None:
        # As the confirmation page: a closed or never-synced portal takes no step.
        reason = portal.confirmation_unavailable_reason
        if reason:
            raise CliFailure(f"Portal '{portal.slug}' is not available: {reason}.", returncode=PORTAL_REFUSED)

    def run(self, portal: Portal, params: dict[str, Any]) -> None:
        raise NotImplementedError

    @property
    def command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

    def step(self, portal: Portal, params: dict[str, Any], *, resend: bool) -> Step:
        """A confirmation or resend made ready as the page makes it: checked values, context, the attempt."""
        username, code = confirm_form_values(params, resend=resend)
        visitor = visitor_from(portal, params, self.command_name)
        self.warn(secret_hash_warning(portal, username, params.get("SecretHash", "")))
        self.warn(ip_address_warning(portal, visitor))
        return Step(username, code, visitor, SignupAttempt.objects.latest_created(portal, username))

    def write_json(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, indent=4, ensure_ascii=False))

    def warn(self, text: str) -> None:
        if text:
            self.stderr.write(f"warning: {text}")

    def response(self, value: dict[str, Any]) -> None:
        """Print a response as the AWS CLI does: the model's key order, four-space JSON."""
        self.write_json(in_shape_order(value, operation_model(self.operation).output_shape))


def portals_named(slugs: list[str]) -> tuple[list[Portal], list[str]]:
    """The portals with these slugs (every portal when none are given), and the slugs no portal has."""
    portals = list(Portal.objects.filter(slug__in=slugs) if slugs else Portal.objects.all())
    return portals, sorted(set(slugs) - {portal.slug for portal in portals})


def add_omit_option(parser: CommandParser) -> None:
    """`--omit SID ...` for iam_policy and portal check, which must agree on what was left out."""
    parser.add_argument(
        "--omit",
        nargs="+",
        action="extend",
        default=[],
        metavar="SID",
        choices=permissions.SIDS,
        help="Leave these features out of the policy, e.g. ConfirmStuckUsers DeleteStuckUsers for a role that "
        "never runs operators' actions; what needs them then names the missing permission when used.",
    )
