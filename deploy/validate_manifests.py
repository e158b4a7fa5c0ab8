"""Offline validation of the Kubernetes manifests: every overlay rendered with kustomize, checked
against the Kubernetes schemas (kubernetes-validate, strict) and checkov's policies, and held to a
namespace default-deny for ingress and egress.

Run by `make lint` with the manifest-lint tool venv (deploy/manifest-lint-requirements.txt):
    .local/tools/manifest-lint/bin/python deploy/validate_manifests.py --kubectl .local/tools/bin/kubectl
Checkov findings are allowed only as deploy/manifest-policy.yaml lists them, each with its reason.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[1]
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
POLICY = ROOT / "deploy" / "manifest-policy.yaml"
KUBERNETES_VERSION = "1.32"
NAMESPACE = "codegram"


@dataclass(frozen=True)
class Exception_:
    check: str
    overlays: tuple[str, ...]
    resources: tuple[str, ...]
    reason: str

    def covers(self, overlay: str, check: str, resource: str) -> bool:
        return (
            check == self.check
            and overlay in self.overlays
            and any(fnmatch.fnmatchcase(resource, pattern) for pattern in self.resources)
        )


def load_exceptions() -> list[Exception_]:
    entries = yaml.safe_load(POLICY.read_text()) or []
    exceptions = []
    for entry in entries:
        if not str(entry.get("reason", "")).strip():
            raise SystemExit(f"{POLICY.name}: {entry.get('check')} has no reason")
        exceptions.append(
            Exception_(entry["check"], tuple(entry["overlays"]), tuple(entry["resources"]), entry["reason"])
        )
    return exceptions


def render(kubectl: str, overlay: Path) -> str:
    return subprocess.run(
        [kubectl, "kustomize", str(overlay)], check=True, capture_output=True, text=True
    ).stdout


def schema_errors(documents: list[dict[str, Any]]) -> list[str]:
    """Each resource against the Kubernetes schema of its kind and apiVersion, unknown fields refused."""
    errors = []
    for doc in documents:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{name}: {path}: {exc.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
            errors.append(f"{name}: {exc}")
    return errors


def default_deny_errors(documents: list[dict[str, Any]]) -> list[str]:
    """The namespace refuses what no policy admits: one NetworkPolicy selecting every pod of it, for
    ingress and egress, with no rule of its own."""
    for doc in documents:
        spec = doc.get("spec") or {}
        if (
            doc.get("kind") == "NetworkPolicy"
            and doc["metadata"].get("namespace") == NAMESPACE
            and spec.get("podSelector") in ({}, None)
            and set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}
            and not spec.get("ingress")
            and not spec.get("egress")
        ):
            return []
    return [f"no default-deny NetworkPolicy (podSelector {{}}, Ingress and Egress) in namespace {NAMESPACE}"]


def checkov_failures(rendered: list[Path]) -> list[tuple[str, str, str, str]]:
    """(overlay, check id, check name, resource) of each failed checkov policy, one run for all."""
    checkov = Path(sys.executable).with_name("checkov")
    files = [arg for path in rendered for arg in ("--file", str(path))]
    options = ["--framework", "kubernetes", "--output", "json", "--quiet", "--compact", "--skip-download"]
    result = subprocess.run(
        [str(checkov), *files, *options],
        capture_output=True,
        text=True,
        # Offline and anonymous: no platform key, so nothing is uploaded; no guideline download.
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        check=False,
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"checkov failed ({result.returncode}):\n{result.stderr[-4000:]}")
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failures = []
    for one in reports:
        if one.get("check_type") not in (None, "kubernetes"):
            continue
        for failed in one.get("results", {}).get("failed_checks", []):
            overlay = Path(failed["file_path"]).stem
            failures.append((overlay, failed["check_id"], failed["check_name"], failed["resource"]))
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubectl", default="kubectl", help="kubectl with its built-in kustomize")
    args = parser.parse_args()
    exceptions = load_exceptions()
    used: set[int] = set()
    problems: list[str] = []
    overlays = sorted(p for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").exists())
    with tempfile.TemporaryDirectory() as tmp:
        rendered = []
        for overlay in overlays:
            text = render(args.kubectl, overlay)
            documents = [d for d in yaml.safe_load_all(text) if d]
            problems += [f"{overlay.name}: schema: {e}" for e in schema_errors(documents)]
            problems += [f"{overlay.name}: {e}" for e in default_deny_errors(documents)]
            rendered.append(Path(tmp) / f"{overlay.name}.yaml")
            rendered[-1].write_text(text)
            print(f"{overlay.name}: {len(documents)} resources rendered and checked against the schemas")  # noqa: T201
        for overlay_name, check, name, resource in checkov_failures(rendered):
            covering = [i for i, e in enumerate(exceptions) if e.covers(overlay_name, check, resource)]
            if covering:
                used.update(covering)
            else:
                problems.append(f"{overlay_name}: checkov {check} ({name}): {resource}")
    for i, exception in enumerate(exceptions):
        if i not in used:
            problems.append(f"{POLICY.name}: {exception.check} for {exception.resources} matches nothing now")
    for problem in problems:
        print(problem, file=sys.stderr)  # noqa: T201
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
