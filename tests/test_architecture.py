"""The import rules docs/architecture.md sets out, read from the source: arrows point down, channels
never import each other, and each outside thing has one door."""

import ast
from pathlib import Path

import pytest

SIGNUP = Path(__file__).resolve().parent.parent / "signup"


def module_name(path: Path) -> str:
    parts = path.relative_to(SIGNUP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, absolute, at any depth of the file (functions included)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = {
    module_name(path): imports_of(path)
    for path in sorted(SIGNUP.rglob("*.py"))
    if "migrations" not in path.parts and "__pycache__" not in path.parts
}


def importers_of(target: str) -> set[str]:
    return {
        name
        for name, imported in MODULES.items()
        if any(i == target or i.startswith(f"{target}.") for i in imported) and not name.startswith(target)
    }


def test_the_rules_are_read_from_every_module():
    assert {"signup.flows.signup", "signup.pages", "signup.cognito", "signup.messages"} <= set(MODULES)
    assert "signup.flows.outcome" in MODULES["signup.flows.signup"]


@pytest.mark.parametrize("outside", ["boto3", "botocore"])
def test_only_cognito_py_talks_to_aws(outside):
    allowed = {"signup.cognito"}
    assert {m for m in importers_of(outside) if not m.startswith("signup.emulator")} == allowed


def test_messages_import_nothing_of_ours():
    assert {i for i in MODULES["signup.messages"] if i.startswith("signup")} == set()


CHANNELS = {
    "signup.views": "page",
    "signup.embed_views": "frame",
    "signup.cli": "cli",
    "signup.management.commands.signup": "cli",
    "signup.management.commands.confirm_signup": "cli",
    "signup.management.commands.resend_code": "cli",
    "signup.admin": "admin",
    "signup.api": "api",
}


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_no_channel_imports_another(channel):
    others = {name for name, kind in CHANNELS.items() if kind != CHANNELS[channel]}
    assert {i for i in MODULES[channel] if i in others or i.rpartition(".")[0] in others} == set()


def test_use_cases_know_no_channel_and_no_http():
    above = {
        "signup.views",
        "signup.embed_views",
        "signup.pages",
        "signup.visitors",
        "signup.cli",
        "signup.admin",
        "signup.api",
    }
    for name, imported in MODULES.items():
        if name.startswith("signup.flows"):
            assert not {i for i in imported if i in above or i.rpartition(".")[0] in above}, name
            assert not {i for i in imported if i.startswith("django.http")}, name


def test_models_know_no_use_case_and_no_channel():
    above = ("signup.flows", "signup.pages", "signup.views", "signup.embed_views", "signup.cli", "signup.caching")
    assert not {i for i in MODULES["signup.models"] if i.startswith(above)}


def test_what_the_use_cases_count_with_imports_no_http():
    # flows/ record into metrics.py, so it must not bring HTTP in with it (the view is health.py's).
    assert {i for i in MODULES["signup.metrics"] if i.startswith("django.http")} == set()


def test_every_signed_cognito_call_belongs_to_a_feature_of_the_iam_policy():
    """A call cognito.py makes that Cognito checks against IAM must be in permissions.FEATURES, or the
    printed policy would leave it out and the feature would fail in production only."""
    import botocore.session

    from signup import cognito, permissions

    model = botocore.session.get_session().get_service_model("cognito-idp")
    methods = {
        node.args[1].value
        for node in ast.walk(ast.parse((SIGNUP / "cognito.py").read_text()))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "_call"
        and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
    }
    operations = {name for name in model.operation_names if botocore.xform_name(name) in methods}
    assert len(operations) == len(methods) >= 8, methods
    signed = {name for name in operations if model.operation_model(name).auth_type != "none"}
    in_policy = {action for feature in permissions.FEATURES for action in feature.actions}
    assert signed == in_policy
    assert set(cognito.PROBED_ACTIONS) == in_policy  # and portal check proves each of them
    assert {name for name in operations if name not in signed} == set(permissions.PUBLIC_CALLS)
