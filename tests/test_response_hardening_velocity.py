"""The hardening template under Apache Velocity 1.7 itself, not an emulation of it.

API Gateway's mapping templates are Velocity templates; airspeed (the other tests) is a Python
re-implementation. Here ``tests/apigw_velocity/RenderResponse.java`` renders the template with
the Velocity 1.7 jar, ``$input.path``/``$input.json`` evaluated by Jayway JsonPath over
json-smart (Java ``Map``s, ``List``s, ``Integer``s and ``Double``s, as API Gateway hands them
over), on 1000 random bodies under each of seven settings, and the answers must be exactly what
``secure_endpoint.runtime.hardening`` (equal to the airspeed rendering, tests/runtime) says.

It needs a JDK and the jars: Maven's local repository has them on this kind of machine, and
Debian packages them (``apt-get install velocity libjsonpath-java libjson-smart-java``); without
them the module is skipped and says which jar is missing.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from secure_endpoint import ResponseHardening
from secure_endpoint.runtime.hardening import Refused

HERE = Path(__file__).parent
M2 = Path(os.path.expanduser("~/.m2/repository"))
DEBIAN = Path("/usr/share/java")
# each jar: where Maven keeps it, where Debian puts it
COMMON = {
    "json-path": ("com/jayway/jsonpath/json-path/2.*/json-path-2.*.jar", "json-path.jar"),
    "json-smart": ("net/minidev/json-smart/2.*/json-smart-2.*.jar", "json-smart.jar"),
    "accessors-smart": (
        "net/minidev/accessors-smart/*/accessors-smart-*.jar",
        "accessors-smart.jar",
    ),
    "slf4j-api": ("org/slf4j/slf4j-api/*/slf4j-api-*.jar", "slf4j-api.jar"),
    "asm": ("org/ow2/asm/asm/9.*/asm-9.*.jar", "asm.jar"),
}
ENGINES = {
    "velocity-1.7": {
        "velocity 1.7": ("org/apache/velocity/velocity/1.7/velocity-1.7.jar", "velocity.jar"),
        "commons-collections 3": (
            "commons-collections/commons-collections/3.*/commons-collections-3.*.jar",
            "commons-collections3.jar",
        ),
        "commons-lang 2": (
            "commons-lang/commons-lang/2.*/commons-lang-2.*.jar",
            "commons-lang.jar",
        ),
        **COMMON,
    },
    "velocity-2": {
        "velocity-engine-core 2": (
            "org/apache/velocity/velocity-engine-core/2.*/velocity-engine-core-2.*.jar",
            "velocity-engine-core.jar",
        ),
        "commons-lang3": (
            "org/apache/commons/commons-lang3/3.*/commons-lang3-3.*.jar",
            "commons-lang3.jar",
        ),
        **COMMON,
    },
}  # fmt: skip
SETTINGS = [
    ResponseHardening(),
    ResponseHardening(probability_decimals=0),
    ResponseHardening(probability_decimals=6),
    ResponseHardening(probability_decimals=3, top_k=2),
    ResponseHardening(probability_decimals=None, top_k=1),
    ResponseHardening(label_only=True),
    ResponseHardening(label_only=True, label_threshold=0.3),
]


def _version(path: str) -> tuple[int, ...]:
    digits = Path(path).parent.name.split(".")
    return tuple(int(d) if d.isdigit() else -1 for d in digits)


def _jar(maven: str, debian: str) -> str | None:
    found = sorted(glob.glob(str(M2 / maven)), key=_version) or glob.glob(str(DEBIAN / debian))
    return found[-1] if found else None


@pytest.fixture(scope="module", params=sorted(ENGINES))
def velocity(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command that renders a template file over bodies on stdin, with Velocity 1.7 (what
    API Gateway's templates are written for) or Velocity 2."""
    jars = {name: _jar(*where) for name, where in ENGINES[request.param].items()}
    missing = [name for name, jar in jars.items() if jar is None]
    if missing:
        pytest.skip(f"{request.param} cannot run here: no jar {missing}")
    classes = tmp_path_factory.mktemp(request.param)
    classpath = os.pathsep.join(str(j) for j in jars.values())
    javac, java = shutil.which("javac"), shutil.which("java")
    if java is None or javac is None:
        pytest.skip(f"{request.param} cannot run here: no JDK (java, javac)")
    source = HERE / "apigw_velocity" / "RenderResponse.java"
    subprocess.run(  # noqa: S603 - the JDK's compiler, the repository's source
        [javac, "-cp", classpath, "-d", str(classes), str(source)], check=True, timeout=120
    )
    return [java, "-cp", f"{classpath}{os.pathsep}{classes}", "RenderResponse"]


def _number(rng: np.random.Generator) -> float | int:
    kind = rng.integers(6)
    if kind == 0:
        return float(rng.random())
    if kind == 1:
        return float(rng.normal(0, 10) ** 3)
    if kind == 2:
        return int(rng.integers(-5000, 5000))
    if kind == 3:
        return [0.005, 0.125, 0.285, 1e-7, -0.5, 2.5, 0.9999999, -1e-9, 0.0][rng.integers(9)]
    if kind == 4:
        return [9.99e12, 1.01e13, 999_999_999.5, 1.5e9, -1e15, 2148.0][rng.integers(6)]
    return round(float(rng.random()), int(rng.integers(1, 8)))


def _value(rng: np.random.Generator) -> Any:
    kind = rng.integers(10)
    if kind < 4:
        return _number(rng)
    if kind < 8:
        return [_number(rng) for _ in range(rng.integers(0, 6))]
    return ["x", None, True, [[0.5]]][rng.integers(4)] if kind == 8 else [0.5, None]


def _label(rng: np.random.Generator) -> Any:
    return [
        "churn", 'it\'s "q" \\ \u00e9', "", 3, -1, 2.5, True, False, None, ["a"], {"k": 1}
    ][rng.integers(11)]  # fmt: skip


def _row(rng: np.random.Generator) -> Any:
    if rng.random() < 0.5:
        return _value(rng)
    row: dict[str, Any] = {}
    for key in rng.choice(
        ["probabilities", "probability", "scores", "score", "label", "predicted_label", "logits"],
        size=rng.integers(0, 4),
        replace=False,
        p=[0.2, 0.1, 0.15, 0.15, 0.2, 0.15, 0.05],
    ):
        row[str(key)] = _label(rng) if "label" in key else _value(rng)
    return row


def random_body(rng: np.random.Generator) -> Any:
    kind = rng.integers(5)
    rows = [_row(rng) for _ in range(rng.integers(0, 5))]
    if kind == 0:
        return rows
    if kind == 1:
        return {"predictions": rows}
    if kind == 2:
        return {"predictions": rows, "model": "v2"} if rng.random() < 0.2 else _row(rng)
    if kind == 3:
        return _number(rng)
    return ["text", None, False][rng.integers(3)]


def render_all(command: list[str], template: str, bodies: list[str], tmp: Path) -> list[dict]:
    path = tmp / "template.vtl"
    path.write_text(template)
    lines = "".join(json.dumps(body) + "\n" for body in bodies)
    done = subprocess.run(  # noqa: S603 - the class compiled above, fixed code
        [*command, str(path)], input=lines, capture_output=True, text=True, check=True, timeout=300
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(bodies), done.stderr
    return results


@pytest.mark.parametrize("hardening", SETTINGS, ids=repr)
def test_velocity_answers_as_the_python_rules_say(velocity, hardening, tmp_path):
    rng = np.random.default_rng(SETTINGS.index(hardening))
    bodies = [json.dumps(random_body(rng)) for _ in range(1000)]
    results = render_all(velocity, hardening.response_template(), bodies, tmp_path)
    refused = 0
    for text, result in zip(bodies, results, strict=True):
        try:
            want = hardening.apply(json.loads(text))
        except Refused:
            refused += 1
            if "error" in result:  # the template failed: API Gateway answers 500 too
                assert text == "null", f"{text}: {result['error']}"  # JsonPath refuses a null body
                continue
            assert result["status"] == "500", f"{text} -> {result['body']}"
            assert json.loads(result["body"])["error"] == "internal_error"
            continue
        assert "error" not in result, f"{text}: {result['error']}"
        assert result["status"] is None, f"{text} -> {result['body']}"
        # the same values of the same types (1 is not 1.0) in the same order
        assert json.dumps(json.loads(result["body"])) == json.dumps(want), text
    assert 100 < refused < 900  # both paths well exercised


def test_velocity_rounds_the_documented_examples(velocity, tmp_path):
    bodies = ['{"predictions": [0.87654, 1e-7, 0.285, -0.876]}', "[[0.1, 0.7, 0.2]]", "[0.5, null]"]
    template = ResponseHardening().response_template()
    first, second, third = render_all(velocity, template, bodies, tmp_path)
    assert first["body"] == '{"predictions":[0.88,0.00,0.28,-0.88]}'
    assert second["body"] == "[[0.10,0.70,0.20]]"
    assert third["status"] == "500"
