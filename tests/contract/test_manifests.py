"""Every overlay, as rendered, puts the whole namespace under a default deny for ingress and egress,
and every pod of it that is not the fleet's gets only the explicit allows its overlay gives.

`make lint` validates the same renders against the Kubernetes schemas and checkov
(deploy/validate_manifests.py); this holds the namespace rule in `make test` too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (ROOT / "deploy" / "k8s" / "overlays").iterdir() if p.is_dir())
NAMESPACE = "codegram"
PART_OF = "app.kubernetes.io/part-of"


def _kubectl() -> str:
    if explicit := os.environ.get("KUBECTL"):
        return explicit
    pinned = ROOT / ".local" / "tools" / "bin" / "kubectl"
    if pinned.exists():
        return str(pinned)
    if found := shutil.which("kubectl"):
        return found
    pytest.fail("kubectl renders the overlays: `make test` installs the pinned one, or set KUBECTL")


def render(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [_kubectl(), "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector's verdict on a pod's labels (an empty selector selects every pod)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_namespace_denies_all_ingress_and_egress_by_default(overlay: str) -> None:
    policies = [d for d in render(overlay) if d["kind"] == "NetworkPolicy"]
    assert policies
    deny = [
        p
        for p in policies
        if p["metadata"]["namespace"] == NAMESPACE
        and p["spec"].get("podSelector") in ({}, None)
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, f"{overlay}: no NetworkPolicy denies every pod of the namespace both ways"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_outside_the_fleet_get_only_their_overlays_allows(overlay: str) -> None:
    """The dev overlay's engines and bootstrap Job are not the fleet's pods: no policy meant for the
    fleet (selecting `part-of: codegram`) speaks for them, and their own admit only what they serve."""
    documents = render(overlay)
    policies = [d for d in documents if d["kind"] == "NetworkPolicy"]
    others = [
        d
        for d in documents
        if d["kind"] in ("StatefulSet", "Job", "Deployment", "CronJob")
        and PART_OF not in (_pod_labels(d) or {})
    ]
    for workload in others:
        labels = _pod_labels(workload)
        # The namespace-wide ones (empty selector: the default deny) aside.
        selecting = [
            p for p in policies if p["spec"].get("podSelector") and _selects(p["spec"]["podSelector"], labels)
        ]
        for policy in selecting:
            name = policy["metadata"]["name"]
            assert not name.startswith("codegram-"), f"{workload['metadata']['name']} is selected by {name}"
            for rule in policy["spec"].get("ingress", []):
                assert rule.get("from"), f"{policy['metadata']['name']} admits anyone"
                assert rule.get("ports"), f"{policy['metadata']['name']} admits every port"
        if workload["kind"] == "StatefulSet":
            # An engine: reached by the fleet, calls no one.
            assert selecting, workload["metadata"]["name"]
            assert not any("Egress" in p["spec"].get("policyTypes", []) for p in selecting)


def _pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    spec = workload["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]
    return (template.get("metadata") or {}).get("labels") or {}
