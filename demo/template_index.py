"""The synthesized templates as the baseline checks read them: every resource by type and by
(stack, logical id), references followed, and the queries more than one check asks (methods,
web ACL rules, usage plans, protected stages, scheduled functions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from demo.protection import Template


def resources_of(template: Template) -> list[tuple[str, Mapping[str, Any]]]:
    return list((template.get("Resources") or {}).items())


@dataclass(frozen=True)
class Resource:
    stack: str
    logical_id: str
    type: str
    props: Mapping[str, Any]
    depends_on: tuple[str, ...]


class Index:
    """Every resource of every template, by type and by (stack, logical id)."""

    def __init__(self, templates: Mapping[str, Template]) -> None:
        self.templates = templates
        self.resources: list[Resource] = []
        for stack, template in templates.items():
            for logical_id, resource in resources_of(template):
                depends = resource.get("DependsOn") or []
                self.resources.append(
                    Resource(
                        stack,
                        logical_id,
                        str(resource.get("Type", "")),
                        resource.get("Properties") or {},
                        (depends,) if isinstance(depends, str) else tuple(depends),
                    )
                )
        self._by_id = {(r.stack, r.logical_id): r for r in self.resources}

    def of(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def resolve(self, origin: Resource, value: Any) -> Resource | None:
        """The resource a ``Ref`` or ``Fn::GetAtt`` in ``origin``'s template points at."""
        target = ref(value)
        return self._by_id.get((origin.stack, target)) if target else None

    def outputs(self) -> set[str]:
        return {key for t in self.templates.values() for key in (t.get("Outputs") or {})}


def ref(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute:
            return str(attribute[0])
        if isinstance(attribute, str):
            return attribute.split(".", 1)[0]
    return None


def _refs_in(value: Any) -> set[str]:
    """Every logical id a value refers to, through joins and subs."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        target = ref(value)
        if target:
            found.add(target)
        for inner in value.values():
            found |= _refs_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _refs_in(inner)
    return found


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def nested(statement: Any, key: str) -> list[Mapping[str, Any]]:
    """Every ``key`` statement inside a WAF statement (through And/Or/Not)."""
    found: list[Mapping[str, Any]] = []
    if isinstance(statement, Mapping):
        if key in statement:
            found.append(statement[key])
        for inner in statement.values():
            found += nested(inner, key)
    elif isinstance(statement, list):
        for inner in statement:
            found += nested(inner, key)
    return found


def api_methods(ix: Index) -> list[Resource]:
    return [m for m in ix.of("AWS::ApiGateway::Method") if m.props.get("HttpMethod") != "OPTIONS"]


def method_name(ix: Index, method: Resource) -> str:
    parts: list[str] = []
    resource = ix.resolve(method, method.props.get("ResourceId"))
    for _ in range(50):  # a resource tree is never this deep; a cycle would be
        if resource is None or resource.type != "AWS::ApiGateway::Resource":
            break
        parts.append(str(resource.props.get("PathPart", "?")))
        resource = ix.resolve(resource, resource.props.get("ParentId"))
    return f"{method.props.get('HttpMethod', '?')} /{'/'.join(reversed(parts))}"


def web_acl_rules(ix: Index) -> list[tuple[Resource, Mapping[str, Any]]]:
    return [
        (acl, rule) for acl in ix.of("AWS::WAFv2::WebACL") for rule in acl.props.get("Rules", [])
    ]


def rate_rules(ix: Index) -> list[Mapping[str, Any]]:
    return [
        rate
        for _, rule in web_acl_rules(ix)
        for rate in nested(rule.get("Statement"), "RateBasedStatement")
    ]


def managed_groups(ix: Index) -> list[str]:
    return [
        str(group.get("Name"))
        for _, rule in web_acl_rules(ix)
        for group in nested(rule.get("Statement"), "ManagedRuleGroupStatement")
    ]


def stage_throttle(stage: Resource) -> tuple[Any, Any]:
    for setting in stage.props.get("MethodSettings", []):
        if setting.get("HttpMethod") == "*" and setting.get("ResourcePath") == "/*":
            return setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
    return None, None


def usage_plans(ix: Index) -> list[Resource]:
    return ix.of("AWS::ApiGateway::UsagePlan")


def protected_stages(ix: Index) -> tuple[list[Resource], list[Resource]]:
    """The stages a WAF web ACL is associated with, and the others."""
    associated = {
        (a.stack, target)
        for a in ix.of("AWS::WAFv2::WebACLAssociation")
        for target in _refs_in(a.props.get("ResourceArn"))
    }
    stages = ix.of("AWS::ApiGateway::Stage")
    covered = [s for s in stages if (s.stack, s.logical_id) in associated]
    return covered, [s for s in stages if (s.stack, s.logical_id) not in associated]


def scheduled_functions(ix: Index) -> list[tuple[str, str]]:
    """(handler module, schedule) of each Lambda function an EventBridge schedule runs."""
    found = []
    for rule in ix.of("AWS::Events::Rule"):
        schedule = rule.props.get("ScheduleExpression")
        if not schedule or rule.props.get("State", "ENABLED") != "ENABLED":
            continue
        for target in rule.props.get("Targets", []):
            function = ix.resolve(rule, target.get("Arn"))
            if function is not None and function.type == "AWS::Lambda::Function":
                handler = str(function.props.get("Handler", function.logical_id))
                found.append((handler.split(".", 1)[0], str(schedule)))
    return found
