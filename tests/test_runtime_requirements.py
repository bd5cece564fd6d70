"""Production installs requirements.txt alone; moto (the local Cognito's engine) and whatever else only the
tests, the demo and the performance toolkit use come from requirements-dev.txt. So nothing production loads
may import them: in a process where every installed package outside requirements.txt (and what it pulls in)
fails to import, as if it were not installed, Django is set up, the URLconf and the WSGI application load,
every signup module but the local Cognito's imports, and the system checks pass."""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# Only `manage.py emulator` and `manage.py demo` start the local Cognito; they may import it.
LOCAL_COGNITO = ["signup.emulator", "signup.management.commands.emulator", "signup.management.commands.demo"]

PRODUCTION = r"""
import importlib, importlib.abc, json, pkgutil, runpy, sys

blocked, skipped = set(json.loads(sys.argv[1])), json.loads(sys.argv[2])
started_with = set(sys.modules)  # site's .pth hooks (setuptools' distutils shim) run before any of this


class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in requirements.txt)", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
try:
    import moto  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    sys.exit("the blocker let moto through")

import django

django.setup()
import portal.urls  # noqa: F401
from portal.wsgi import application  # noqa: F401

runpy.run_path("gunicorn.conf.py")


def modules(package):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if any(info.name == s or info.name.startswith(s + ".") for s in skipped):
            continue
        module = importlib.import_module(info.name)
        yield info.name
        if info.ispkg:
            yield from modules(module)


import signup

imported = list(modules(signup))
from django.core.management import call_command

call_command("check")
leaked = sorted(name for name in set(sys.modules) - started_with if name.partition(".")[0] in blocked)
print(json.dumps({"imported": imported, "leaked": leaked}))
"""


def requirements(name: str) -> list[Requirement]:
    """The requirements a requirements file names itself (not those of the files it includes with -r)."""
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / name).read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def runtime_distributions() -> set[str]:
    """requirements.txt's distributions and everything they require, with their extras, as installed here."""
    pending = requirements("requirements.txt")
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not for this platform or Python
        for text in requires:
            needed = Requirement(text)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    return {key.partition("[")[0] for key in seen}


def test_requirements_txt_has_no_moto():
    assert "moto" not in {canonicalize_name(r.name) for r in requirements("requirements.txt")}
    assert "moto" in {canonicalize_name(r.name) for r in requirements("requirements-dev.txt")}
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()


def test_production_imports_nothing_outside_requirements_txt():
    runtime = runtime_distributions()
    assert {"django", "boto3", "gunicorn", "psycopg"} <= runtime and "moto" not in runtime
    blocked = sorted(
        module
        for module, owners in importlib.metadata.packages_distributions().items()
        if not any(canonicalize_name(owner) in runtime for owner in owners)
    )
    # (requests is runtime now: the OTLP/HTTP trace exporter sends with it; hypothesis is the tests' alone.)
    assert "moto" in blocked and "hypothesis" in blocked, blocked
    # DEBUG on only so `check` does not ask for collectstatic's manifest (signup.E005, tests/test_checks.py):
    # what is imported here is the same either way.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "DEBUG": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", PRODUCTION, json.dumps(blocked), json.dumps(LOCAL_COGNITO)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert {"signup.models", "signup.urls"} <= set(result["imported"])
    assert not result["leaked"]
