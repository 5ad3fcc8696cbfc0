"""Checks that tests run on synthesized templates."""

from __future__ import annotations

import json

import cfnlint.api
from aws_cdk.assertions import Template


def cfn_lint(template: Template, *regions: str) -> list[str]:
    """Every cfn-lint error and warning on ``template`` in ``regions``, as the command line
    reports them in CI."""
    return [str(m) for m in cfnlint.api.lint(json.dumps(template.to_json()), regions=list(regions))]
