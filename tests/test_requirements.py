"""The declared dependency ranges: keras' floor stays above its load-time code-execution advisories, and
constraints-floors.txt (what .ci/floors installs and runs) pins exactly the floors requirements*.txt declare."""

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

# Keras before 3.14.0 can run code from a crafted model file at load time in spite of safe_mode=True, and the app
# loads .keras files that visitors upload: CVE-2025-1550 (fixed 3.9.0), CVE-2025-8747 / GHSA-c9rc-mg46-23w3 and
# CVE-2025-9906 / GHSA-36fq-jgmw-4r9c (3.11.0), CVE-2025-9905 (.h5 files, 3.11.3), CVE-2026-1462 /
# GHSA-4f3f-g24h-fr8m (TFSMLayer, 3.14.0 on the main line; backports 3.12.1, 3.13.2).
KERAS_SECURITY_FLOOR = Version("3.14.0")

# constraints-floors.txt is for the linux x86_64 machine .ci/floors runs on
LINUX_X86_64 = {"sys_platform": "linux", "platform_machine": "x86_64"}


def requirements(name):
    """The requirement lines of a requirements file, without comments, blank lines and `-r` includes."""
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / name).read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def floor(requirement):
    """The version of a requirement's `>=` bound."""
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    assert len(floors) == 1, f"{requirement}: one `>=` floor expected"
    return floors[0]


def applies_here(requirement):
    return requirement.marker is None or requirement.marker.evaluate(LINUX_X86_64)


def constraints():
    """constraints-floors.txt as {canonical name: pinned version}; every line an exact `==` pin."""
    pins = {}
    for requirement in requirements("constraints-floors.txt"):
        (spec,) = requirement.specifier
        assert spec.operator == "==" and requirement.marker is None, f"{requirement}: a plain `==` pin expected"
        pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


RUNTIME = requirements("requirements.txt")
DEV = requirements("requirements-dev.txt")


def test_keras_floor_is_at_least_the_security_floor():
    (keras,) = [r for r in RUNTIME if canonicalize_name(r.name) == "keras"]
    assert floor(keras) >= KERAS_SECURITY_FLOOR, f"keras' floor {floor(keras)} is below {KERAS_SECURITY_FLOOR}"
    # and no range allows anything below it
    assert not any(keras.specifier.contains(v) for v in ["3.3.3", "3.9.0", "3.13.2"])


def test_tensorflow_and_tensorflow_cpu_share_their_floor():
    tf = {canonicalize_name(r.name): r for r in RUNTIME if r.name.startswith("tensorflow")}
    assert set(tf) == {"tensorflow", "tensorflow-cpu"}
    assert floor(tf["tensorflow"]) == floor(tf["tensorflow-cpu"])
    assert tf["tensorflow"].specifier == tf["tensorflow-cpu"].specifier


@pytest.mark.parametrize("requirement", [r for r in RUNTIME if applies_here(r)], ids=str)
def test_constraints_pin_each_runtime_package_at_its_floor(requirement):
    pins = constraints()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement.name} has no pin in constraints-floors.txt"
    assert pins[name] == floor(requirement), f"pinned at {pins[name]}, requirements.txt's floor is {floor(requirement)}"


def test_constraints_pin_nothing_but_floors():
    """Each pin is a floor of requirements.txt or requirements-dev.txt (the dev tools' pins are optional)."""
    floors = {canonicalize_name(r.name): floor(r) for r in RUNTIME + DEV if applies_here(r)}
    for name, version in constraints().items():
        assert name in floors, f"constraints-floors.txt pins {name}, which no requirements file names"
        assert version == floors[name], f"constraints-floors.txt pins {name}=={version}, its floor is {floors[name]}"
