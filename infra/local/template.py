"""Reading a synthesized cloud assembly (cdk.out) and resolving CloudFormation intrinsics."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"


class TemplateError(ValueError):
    """The template uses something the local target cannot resolve."""


@dataclass
class Stack:
    name: str
    template: dict[str, Any]
    dependencies: list[str]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.get("Resources", {})

    def of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(logical, r) for logical, r in self.resources.items() if r["Type"] == kind]


def load_assembly(outdir: Path) -> list[Stack]:
    """The stacks of a cloud assembly, in deployment order (dependencies first)."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = {
        name: Stack(
            name=name,
            template=json.loads((outdir / artifact["properties"]["templateFile"]).read_text()),
            dependencies=[d for d in artifact.get("dependencies", []) if not d.endswith(".assets")],
        )
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    ordered: list[Stack] = []

    def visit(name: str) -> None:
        if any(s.name == name for s in ordered):
            return
        for dependency in stacks[name].dependencies:
            visit(dependency)
        ordered.append(stacks[name])

    for name in stacks:
        visit(name)
    return ordered


@dataclass
class Resolver:
    """Resolves `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::ImportValue` and pseudo parameters.

    `physical` maps (stack, logical id) to the resource's name and attributes as deployed locally.
    """

    region: str
    physical: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)

    def pseudo(self, stack: str) -> dict[str, str]:
        return {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
            "AWS::NoValue": "",
        }

    def attribute(self, stack: str, logical: str, name: str) -> str:
        try:
            return self.physical[(stack, logical)][name]
        except KeyError:
            raise TemplateError(f"{stack}/{logical}.{name} is not deployed locally") from None

    def resolve(self, stack: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(stack, v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._intrinsics().get(key)
            if handler:
                return handler(stack, arg)
        return {k: self.resolve(stack, v) for k, v in value.items()}

    def _intrinsics(self) -> dict[str, Callable[[str, Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": lambda s, a: (
                self.attribute(s, a[0], a[1]) if isinstance(a, list) else self.attribute(s, *a.split(".", 1))
            ),
            "Fn::Join": lambda s, a: a[0].join(str(self.resolve(s, v)) for v in self.resolve(s, a[1])),
            "Fn::Select": lambda s, a: self.resolve(s, a[1])[int(self.resolve(s, a[0]))],
            "Fn::Split": lambda s, a: str(self.resolve(s, a[1])).split(a[0]),
            "Fn::ImportValue": lambda s, a: self.exports[self.resolve(s, a)],
            "Fn::Sub": self._sub,
            "Fn::GetAZs": lambda s, a: [f"{self.region}a", f"{self.region}b"],
        }

    def _ref(self, stack: str, name: str) -> str:
        pseudo = self.pseudo(stack)
        return pseudo[name] if name in pseudo else self.attribute(stack, name, "Ref")

    def _sub(self, stack: str, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(stack, arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical, attribute = name.split(".", 1)
                return self.attribute(stack, logical, attribute)
            return self._ref(stack, name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def add_exports(self, stack: Stack) -> None:
        for output in stack.template.get("Outputs", {}).values():
            if "Export" in output:
                name = self.resolve(stack.name, output["Export"]["Name"])
                try:
                    self.exports[name] = self.resolve(stack.name, output["Value"])
                except TemplateError:
                    # An export with no local counterpart (a VPC id): nothing that runs here imports it.
                    continue
