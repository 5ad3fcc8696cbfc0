"""Step 1 of the demo: synthesize the sample app with the pinned CDK CLI, every cdk-nag pack and
cfn-lint, and say what the stack is made of and which protections of the baseline it implements.

The protections come from ``demo.baseline``, derived from the synthesized templates (pure: plain
template dicts in), so a template without a protection shows a ``✗`` with what is missing.

cdk-nag v3 runs as CDK validation plugins and drops acknowledged findings itself before it
reports (``NagPack.isAcknowledged`` in cdk-nag's ``nag-pack.js``): the ``validation-report.json``
that ``cdk synth`` writes lists open findings only, and the CDK core's ``suppressedViolations``
stays empty. Acknowledged findings are therefore counted here by building the sample app twice
in process (bundling skipped), once as deployed and once with ``compliance.acknowledge`` only
recording, and running each pack on both trees: what only the raw tree has was acknowledged.
The open findings of the in-process run must match the CLI's report, pack by pack.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from demo.baseline import (
    Protection,
    Status,
    Template,
    resources_by_service,
    scan_protections,
    stack_resource_count,
    template_protections,
)
from demo.console import DemoError, Say

__all__ = [
    "DemoError",
    "LintResult",
    "NagResult",
    "PackEvaluation",
    "Protection",
    "Status",
    "SynthSummary",
    "check_environment",
    "nag_results",
    "resources_by_service",
    "run",
    "summarize",
    "template_protections",
    "unused_acknowledgements",
]

ROOT = Path(__file__).resolve().parents[1]
CDK_CLI = Path("node_modules/.bin/cdk")
MIN_NODE_MAJOR = 20
SYNTH_TIMEOUT_SECONDS = 900
_TAIL_LINES = 25

Finding = tuple[str, str]  # (rule id, construct path)


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NagResult:
    """One cdk-nag pack: findings left open (must be 0) and findings acknowledged with a reason."""

    pack: str
    unacknowledged: int
    acknowledged: int
    acknowledged_rules: int


@dataclass(frozen=True)
class LintResult:
    """cfn-lint over every template: counts by severity and the first messages."""

    templates: int
    errors: int
    warnings: int
    informational: int
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class SynthSummary:
    """What step 1 found; ``console_lines`` for the terminal, ``markdown`` for the report."""

    cdk_out: Path
    stacks: tuple[tuple[str, int], ...]  # (stack, resources)
    services: tuple[tuple[str, int], ...]  # (service, resources), most first
    protections: tuple[Protection, ...]
    nag: tuple[NagResult, ...]
    lint: LintResult
    acknowledgements: int  # (resource, rule) acknowledgements the sample app makes
    unused_acknowledgements: tuple[Finding, ...] = ()  # (rule, path) that acknowledge nothing
    timings: tuple[tuple[str, float], ...] = ()  # (step, seconds)

    @property
    def clean(self) -> bool:
        """No open cdk-nag finding and no cfn-lint error: what must hold for a deploy."""
        return all(result.unacknowledged == 0 for result in self.nag) and self.lint.errors == 0

    @property
    def missing(self) -> tuple[Protection, ...]:
        """The protections of the baseline the templates do not show (``✗``)."""
        return tuple(p for p in self.protections if p.status is Status.MISSING)

    def console_lines(self) -> list[str]:
        resources = sum(count for _, count in self.stacks)
        names = ", ".join(name for name, _ in self.stacks)
        top = " · ".join(f"{service} {count}" for service, count in self.services[:8])
        more = len(self.services) - 8
        if more > 0:
            top += f" · {more} more services"
        open_findings = sum(r.unacknowledged for r in self.nag)
        acknowledged = ", ".join(f"{r.pack} {r.acknowledged}" for r in self.nag)
        unused = len(self.unused_acknowledgements)
        counts = Counter(p.status for p in self.protections)
        lines = [
            f"{len(self.stacks)} stack{_s(len(self.stacks))} ({names}): {resources} resources "
            f"in {len(self.services)} services{_timing_note(self.timings)}",
            f"  {top}",
            f"cdk-nag, {len(self.nag)} packs: {open_findings} unacknowledged; acknowledged "
            f"with a reason: {acknowledged}"
            + (f"; unused acknowledgements: {unused} (see the report)" if unused else ""),
            f"cfn-lint: {self.lint.errors} errors, {self.lint.warnings} warnings "
            f"({self.lint.templates} template{_s(self.lint.templates)})",
            f"baseline protections: {counts[Status.ON]} ✓, {counts[Status.MISSING]} ✗, "
            f"{counts[Status.OPT_IN]} opt-in (off)",
        ]
        width = max((len(p.name) for p in self.protections), default=0)
        lines += [
            f"  {p.mark} {p.control:>2} {p.name:<{width}}  {p.evidence}" for p in self.protections
        ]
        return lines

    def markdown(self) -> str:
        out = ["## Synthesis: the sample app, five cdk-nag packs and cfn-lint", ""]
        stacks = ", ".join(f"`{name}` ({count} resources)" for name, count in self.stacks)
        out += [f"Stacks: {stacks}. Templates in `{self.cdk_out}`.", ""]
        if self.timings:
            steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.timings)
            out += [f"Timings: {steps}.", ""]
        out += ["### Protections of the security baseline", ""]
        out += ["| # | protection | | evidence from the templates |", "|---:|---|:---:|---|"]
        out += [
            f"| {p.control} | {p.name} | {p.mark} | {_cell(p.evidence)} |" for p in self.protections
        ]
        legend = f"{Status.ON.value} implemented · {Status.MISSING.value} missing · "
        out += ["", legend + f"{Status.OPT_IN.value} opt-in, off in this synthesis", ""]
        out += ["### cdk-nag, per pack", ""]
        out += [
            "| pack | unacknowledged | acknowledged findings | acknowledged rules |",
            "|---|---:|---:|---:|",
        ]
        out += [
            f"| {r.pack} | {r.unacknowledged} | {r.acknowledged} | {r.acknowledged_rules} |"
            for r in self.nag
        ]
        out += [
            "",
            "Each acknowledgement names its resource and gives a reason "
            f"({self.acknowledgements} rule acknowledgements in the sample app); a finding is one "
            "rule on one resource.",
        ]
        if self.unused_acknowledgements:
            out += ["", "Acknowledgements that match no finding (candidates for removal):", ""]
            out += [f"- `{rule}` on `{path}`" for rule, path in self.unused_acknowledgements]
        out += [
            "",
            "### cfn-lint",
            "",
            f"{self.lint.errors} errors, {self.lint.warnings} warnings, "
            f"{self.lint.informational} informational in {self.lint.templates} "
            f"template{_s(self.lint.templates)}.",
        ]
        out += [f"- `{_cell(message)}`" for message in self.lint.messages]
        out += ["", "### Resources by service", "", "| service | resources |", "|---|---:|"]
        out += [f"| {service} | {count} |" for service, count in self.services]
        return "\n".join(out) + "\n"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _timing_note(timings: Sequence[tuple[str, float]]) -> str:
    if not timings:
        return ""
    return " [" + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings) + "]"


# --- the run ----------------------------------------------------------------------------------


def run(
    out_dir: Path,
    *,
    cdk_out: Path | None = None,
    say: Say | None = None,
    root: Path = ROOT,
) -> SynthSummary:
    """Synthesize the sample app with the pinned CDK CLI, lint it and summarise it.

    :param out_dir: the demo's output directory. Default for ``cdk_out``: ``out_dir/cdk.out``.
    :param cdk_out: where ``cdk synth`` writes; emptied first (only if it is a cloud assembly or
        empty). Default: - ``out_dir/cdk.out``
    :param say: called with one short line per step. Default: - silent
    :param root: the repository (cdk.json, the pinned CLI). Default: - this checkout
    :raises DemoError: a bad environment, a failed synth, an open cdk-nag finding.
    """
    tell = say or (lambda _line: None)
    check_environment(root)
    target = (cdk_out or out_dir / "cdk.out").resolve()
    _make_fresh(target)
    timings: list[tuple[str, float]] = []

    tell("cdk synth with the pinned CDK CLI (every cdk-nag pack runs as a validation plugin)")
    started = time.perf_counter()
    _cdk_synth(root, target)
    timings.append(("cdk synth", time.perf_counter() - started))
    templates = load_templates(target)

    tell(f"cfn-lint on {len(templates)} template{_s(len(templates))}")
    started = time.perf_counter()
    lint = lint_templates([target / name for name in _template_files(target).values()])
    timings.append(("cfn-lint", time.perf_counter() - started))

    tell("cdk-nag per pack: open and acknowledged findings")
    started = time.perf_counter()
    packs = evaluate_packs_in_process(root)
    nag = nag_results(packs.applied, packs.raw, _read_report(target))
    timings.append(("cdk-nag per pack", time.perf_counter() - started))

    return summarize(
        templates,
        nag=nag,
        lint=lint,
        cdk_out=target,
        acknowledgements=len(packs.recorded),
        unused_acknowledgements=unused_acknowledgements(packs),
        timings=timings,
    )


def check_environment(root: Path = ROOT) -> None:
    """Node.js 20+, the pinned CDK CLI and the interpreter cdk.json runs the app with.

    :raises DemoError: saying what to install or run.
    """
    node = shutil.which("node")
    if node is None:
        raise DemoError(
            f"Node.js is not installed (no `node` on PATH): the pinned CDK CLI needs Node.js "
            f"{MIN_NODE_MAJOR} or later. Install it (https://nodejs.org, or your package "
            "manager), then run `make setup`."
        )
    version = _node_version(node)
    if version is not None and version < MIN_NODE_MAJOR:
        raise DemoError(
            f"Node.js {version} found at {node}; the pinned CDK CLI needs Node.js "
            f"{MIN_NODE_MAJOR} or later. Upgrade it, then run `make setup`."
        )
    cdk = root / CDK_CLI
    if not os.access(cdk, os.X_OK):
        raise DemoError(
            f"the pinned CDK CLI is not installed ({CDK_CLI} is missing): run `make setup` "
            "(npm ci; the first install downloads it from the npm registry, so it needs network "
            "access once)."
        )
    interpreter = _app_interpreter(root)
    if interpreter is not None and not (root / interpreter).exists():
        raise DemoError(
            f"the Python environment cdk.json runs the app with ({interpreter}) is missing: "
            "run `make setup`."
        )


def _node_version(node: str) -> int | None:
    try:
        completed = subprocess.run(  # noqa: S603 - the node found on PATH, fixed arguments
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DemoError(f"cannot run {node} --version: {error}") from None
    match = re.match(r"v?(\d+)\.", completed.stdout.strip())
    return int(match.group(1)) if match else None


def _app_interpreter(root: Path) -> str | None:
    """The relative interpreter path in cdk.json's ``app`` (``.venv/bin/python app.py``)."""
    try:
        app = json.loads((root / "cdk.json").read_text())["app"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    first = shlex.split(str(app))[0] if str(app).strip() else ""
    return first if "/" in first and not os.path.isabs(first) else None


def _make_fresh(target: Path) -> None:
    """Empty ``target`` for a new synth, refusing anything that is not a cloud assembly."""
    if target.is_file():
        raise DemoError(f"{target} is a file; pass a directory for the cloud assembly")
    if target.is_dir() and any(target.iterdir()):
        if not (target / "manifest.json").is_file():
            raise DemoError(
                f"refusing to empty {target}: it is not a cloud assembly (no manifest.json); "
                "pass an empty or new directory"
            )
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)


def _cdk_synth(root: Path, target: Path) -> None:
    command = [str(root / CDK_CLI), "synth", "--quiet", "--no-notices", "--output", str(target)]
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": str(MIN_NODE_MAJOR),
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    try:
        completed = subprocess.run(  # noqa: S603 - the pinned CLI, fixed arguments
            command,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=SYNTH_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DemoError(
            f"cdk synth did not finish in {SYNTH_TIMEOUT_SECONDS} s; the first run bundles the "
            "Lambda dependencies, which needs network access once"
        ) from None
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip().splitlines()
        tail = "\n".join(output[-_TAIL_LINES:])
        findings = _report_counts(_read_report(target))
        open_findings = ", ".join(f"{pack} {count}" for pack, count in findings.items() if count)
        note = f" Open cdk-nag findings: {open_findings}." if open_findings else ""
        raise DemoError(
            f"cdk synth failed (exit {completed.returncode}).{note} Its last lines:\n{tail}"
        )


def _template_files(cdk_out: Path) -> dict[str, str]:
    """Stack name -> template file, from the cloud assembly's manifest."""
    try:
        manifest = json.loads((cdk_out / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise DemoError(f"cdk synth wrote no readable manifest in {cdk_out}: {error}") from None
    files = {
        name: artifact["properties"]["templateFile"]
        for name, artifact in manifest.get("artifacts", {}).items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    if not files:
        raise DemoError(f"the cloud assembly in {cdk_out} has no stack")
    return files


def load_templates(cdk_out: Path) -> dict[str, Template]:
    """Stack name -> template, for every stack of the cloud assembly in ``cdk_out``."""
    return {
        name: json.loads((cdk_out / file).read_text())
        for name, file in _template_files(cdk_out).items()
    }


def lint_templates(paths: Sequence[Path]) -> LintResult:
    """cfn-lint's library API over ``paths`` (the same rules as ``make cfn-lint``)."""
    from cfnlint.api import lint_file

    severities: Counter[str] = Counter()
    messages: list[str] = []
    for path in paths:
        for match in lint_file(path):
            severity = str(match.rule.severity).lower()
            severities[severity] += 1
            if len(messages) < 10:
                messages.append(
                    f"{path.name}:{match.linenumber} {match.rule.id} ({severity}) {match.message}"
                )
    return LintResult(
        templates=len(paths),
        errors=severities["error"],
        warnings=severities["warning"],
        informational=severities["informational"],
        messages=tuple(messages),
    )


def _read_report(cdk_out: Path) -> Mapping[str, Any]:
    path = cdk_out / "validation-report.json"
    if not path.is_file():
        return {"pluginReports": []}
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DemoError(f"cannot read {path}: {error}") from None
    return report if isinstance(report, dict) else {"pluginReports": []}


def _report_counts(report: Mapping[str, Any]) -> dict[str, int]:
    """Plugin -> open findings (one rule on one resource) in a ``validation-report.json``."""
    counts: dict[str, int] = {}
    for plugin in report.get("pluginReports", []):
        name = str(plugin.get("pluginName", "?"))
        found = sum(
            len(violation.get("violatingConstructs") or violation.get("violatingResources") or [])
            for violation in plugin.get("violations", [])
        )
        counts[name] = counts.get(name, 0) + found
    return counts


# --- cdk-nag: open and acknowledged findings ---------------------------------------------------


@dataclass(frozen=True)
class PackEvaluation:
    """Each pack's findings with the acknowledgements applied and without them (raw), and the
    acknowledgements the app makes, as (rule, construct path) pairs."""

    applied: Mapping[str, set[Finding]]
    raw: Mapping[str, set[Finding]]
    recorded: tuple[Finding, ...]


def evaluate_packs_in_process(root: Path = ROOT) -> PackEvaluation:
    """Run every pack on the sample app built twice in this process: as deployed, and with
    ``compliance.acknowledge`` only recording.

    Bundling is skipped: it changes asset code, not what the packs check.
    """
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", str(MIN_NODE_MAJOR))
    from aws_cdk import App

    from secure_endpoint import compliance

    sample = _load_sample_app(root)
    with tempfile.TemporaryDirectory(prefix="secure-endpoint-nag-") as scratch:
        applied_app = _synth_in_process(sample, App, Path(scratch) / "applied")
        with _acknowledgements_recorded(compliance) as recorded:
            raw_app = _synth_in_process(sample, App, Path(scratch) / "raw")
        _refuse_stray_acknowledgements(raw_app, compliance.PACKS)
        applied = {name: _findings(make(), applied_app) for name, make in compliance.PACKS.items()}
        raw = {name: _findings(make(), raw_app) for name, make in compliance.PACKS.items()}
    return PackEvaluation(applied, raw, tuple(recorded))


def _load_sample_app(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_secure_endpoint_sample_app", root / "app.py")
    if spec is None or spec.loader is None:
        raise DemoError(f"cannot load the sample app {root / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _synth_in_process(sample: ModuleType, app_class: Any, outdir: Path) -> Any:
    app = app_class(context={"aws:cdk:bundling-stacks": []}, outdir=str(outdir))
    sample.build(app)
    app.synth()
    return app


@contextlib.contextmanager
def _acknowledgements_recorded(compliance: Any) -> Iterator[list[Finding]]:
    """While inside, ``compliance.acknowledge`` records (rule, path) instead of acknowledging."""
    recorded: list[Finding] = []
    original = compliance.acknowledge

    def record(resource: Any, reason: str, *rule_ids: str) -> None:
        recorded.extend((rule_id, resource.node.path) for rule_id in rule_ids)

    compliance.acknowledge = record
    try:
        yield recorded
    finally:
        compliance.acknowledge = original


def _refuse_stray_acknowledgements(app: Any, packs: Iterable[str]) -> None:
    """An acknowledgement made without ``compliance.acknowledge`` would make the counts lie."""
    from aws_cdk import Validations

    prefixes = tuple(f"{pack}-" for pack in packs)
    stray = []
    pending = [app]
    while pending:
        node = pending.pop()
        pending.extend(node.node.children)
        for entry in node.node.metadata:
            if entry.type != Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                continue
            for key in entry.data or {}:
                rule = re.sub(r"^annotation::", "", str(key), flags=re.IGNORECASE)
                if rule.startswith(prefixes):
                    stray.append(f"{rule} on {node.node.path}")
    if stray:
        raise DemoError(
            "cdk-nag acknowledgements made outside compliance.acknowledge cannot be counted: "
            + "; ".join(sorted(stray)[:5])
        )


def _findings(pack: Any, app: Any) -> set[Finding]:
    report = pack.validate_scope(app)
    return {
        (violation.rule_name, resource.construct_path)
        for violation in report.violations
        for resource in violation.violating_resources
    }


def nag_results(
    applied: Mapping[str, set[Finding]],
    raw: Mapping[str, set[Finding]],
    report: Mapping[str, Any],
) -> tuple[NagResult, ...]:
    """Per pack: open findings and acknowledged ones (raw minus applied).

    ``report`` is the ``validation-report.json`` of the CLI synth; its open findings per pack must
    agree with the in-process count, else the sample app does not register the packs the way
    this evaluation assumes.

    :raises DemoError: when the two counts disagree.
    """
    reported = _report_counts(report)
    results = []
    for pack in applied:
        open_findings = applied[pack]
        if reported.get(pack, 0) != len(open_findings):
            raise DemoError(
                f"cdk synth reports {reported.get(pack, 0)} open {pack} findings where the "
                f"in-process run finds {len(open_findings)}: does app.py still register every "
                "pack (compliance.add_packs)?"
            )
        acknowledged = raw.get(pack, set()) - open_findings
        results.append(
            NagResult(
                pack=pack,
                unacknowledged=len(open_findings),
                acknowledged=len(acknowledged),
                acknowledged_rules=len({rule for rule, _ in acknowledged}),
            )
        )
    return tuple(results)


def unused_acknowledgements(packs: PackEvaluation) -> tuple[Finding, ...]:
    """Acknowledgements (rule, path) that match no acknowledged finding on their construct or
    below it: stale, or written for a rule the packs no longer raise there."""
    acknowledged = set().union(*(packs.raw[p] - packs.applied[p] for p in packs.raw))
    return tuple(
        sorted(
            (rule, path)
            for rule, path in set(packs.recorded)
            if not any(
                found == rule and (where == path or where.startswith(path + "/"))
                for found, where in acknowledged
            )
        )
    )


# --- the summary, from templates and scan results ------------------------------------------


def summarize(
    templates: Mapping[str, Template],
    *,
    nag: Sequence[NagResult],
    lint: LintResult,
    cdk_out: Path,
    acknowledgements: int = 0,
    unused_acknowledgements: Sequence[Finding] = (),
    timings: Sequence[tuple[str, float]] = (),
) -> SynthSummary:
    """A ``SynthSummary`` from templates and scan results; no CDK, no network."""
    scans = scan_protections(
        {r.pack: r.unacknowledged for r in nag},
        sum(r.acknowledged for r in nag),
        lint.errors,
        lint.warnings,
        templates,
    )
    protections = [*template_protections(templates), *scans]
    return SynthSummary(
        cdk_out=cdk_out,
        stacks=tuple((name, stack_resource_count(t)) for name, t in templates.items()),
        services=tuple(resources_by_service(templates).items()),
        protections=tuple(sorted(protections, key=lambda p: p.control)),
        nag=tuple(nag),
        lint=lint,
        acknowledgements=acknowledgements,
        unused_acknowledgements=tuple(unused_acknowledgements),
        timings=tuple(timings),
    )
