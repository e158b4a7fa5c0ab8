"""Every deployable has its image, its manifests and its place in the fleet's kustomization."""

from __future__ import annotations

from pathlib import Path

import yaml

from codegram_devstack.fleet import SERVICES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_skaffold_builds_every_deployable_from_the_one_dockerfile() -> None:
    artifacts = _load(ROOT / "skaffold.yaml")["build"]["artifacts"]
    assert {a["image"]: a["docker"]["buildArgs"]["SERVICE"] for a in artifacts} == {
        f"codegram-{name}": name for name in (*SERVICES, "gateway")
    }
    assert all(a["docker"]["dockerfile"] == "deploy/docker/Dockerfile" for a in artifacts)


def test_every_service_is_in_the_base_with_its_own_name_and_database_key() -> None:
    base = _load(K8S / "base" / "kustomization.yaml")
    assert set(base["resources"]) >= {*SERVICES, "gateway"}
    for service in SERVICES:
        kustomization = _load(K8S / "base" / service / "kustomization.yaml")
        assert kustomization["nameSuffix"] == f"-{service}"
        assert kustomization["images"] == [{"name": "codegram-service", "newName": f"codegram-{service}"}]
        patched_keys = [p["patch"] for p in kustomization["patches"] if "secretKeyRef/key" in p["patch"]]
        assert len(patched_keys) == 2 and all(f"value: {service}}}" in p for p in patched_keys)


def test_every_kustomization_references_files_that_exist() -> None:
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = _load(kustomization)
        for entry in [*spec.get("resources", []), *spec.get("components", [])]:
            assert (kustomization.parent / entry).exists(), f"{kustomization}: {entry}"


def test_containers_run_restricted() -> None:
    for manifest in [K8S / "template" / "deployment.yaml", K8S / "base" / "gateway" / "deployment.yaml"]:
        pod = _load(manifest)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert {"readinessProbe", "livenessProbe", "resources"} <= set(container)


def test_jobs_run_restricted() -> None:
    migrate = _load(K8S / "template" / "migrate-job.yaml")["spec"]["template"]["spec"]
    rotation = _load(K8S / "base" / "key-rotation" / "cronjob.yaml")["spec"]["jobTemplate"]["spec"]
    for pod in (migrate, rotation["template"]["spec"]):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert "resources" in container
