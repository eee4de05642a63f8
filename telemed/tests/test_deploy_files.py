"""The deployment files parse and say what operators rely on.

Neither Docker nor Kubernetes runs here, so these checks read the files: structure, probes,
security settings, and that every variable the settings read is documented.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
DEPLOY = ROOT / "deploy"
K8S_YAML = sorted(p for p in DEPLOY.rglob("*.y*ml") if p.suffix in {".yaml", ".yml"})


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_docs() -> list[dict]:
    return [doc for path in K8S_YAML for doc in load_all(path)]


def by_kind_and_name(kind: str, name: str) -> dict:
    matches = [d for d in k8s_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def settings_variables() -> set[str]:
    source = (ROOT / "telemed" / "settings.py").read_text()
    return set(re.findall(r"\benv_\w+\(\s*\"([A-Z0-9_]+)\"", source))


def test_there_are_kubernetes_manifests():
    assert len(K8S_YAML) >= 8, K8S_YAML


@pytest.mark.parametrize("path", K8S_YAML, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_kubernetes_document_names_its_api_kind_and_name(path):
    docs = load_all(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        assert doc.get("apiVersion"), doc
        assert doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), doc


def test_web_probes_point_at_healthz_and_readyz_with_an_allowed_host():
    web = by_kind_and_name("Deployment", "telemed-web")
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    allowed = by_kind_and_name("ConfigMap", "telemed-config")["data"]["ALLOWED_HOSTS"].split(",")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        headers = {h["name"]: h["value"] for h in container[probe]["httpGet"]["httpHeaders"]}
        assert headers["Host"] in allowed, probe


def test_every_pod_runs_non_root_on_a_read_only_root_filesystem():
    workloads = [d for d in k8s_docs() if d["kind"] in {"Deployment", "Job"}]
    assert {d["metadata"]["name"] for d in workloads} == {
        "telemed-web",
        "telemed-worker",
        "telemed-beat",
        "telemed-migrate",
    }
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert {e.get("configMapRef", e.get("secretRef"))["name"] for e in container["envFrom"]} == {
                "telemed-config",
                "telemed-secrets",
            }


def test_exactly_one_beat_and_never_two_during_a_rollout():
    beat = by_kind_and_name("Deployment", "telemed-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert "beat" in beat["spec"]["template"]["spec"]["containers"][0]["command"]


def test_the_autoscaler_and_disruption_budget_cover_the_web_pods():
    web_labels = by_kind_and_name("Deployment", "telemed-web")["spec"]["template"]["metadata"]["labels"]
    hpa = by_kind_and_name("HorizontalPodAutoscaler", "telemed-web")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "telemed-web"}
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = by_kind_and_name("PodDisruptionBudget", "telemed-web")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= web_labels.items()
    service = by_kind_and_name("Service", "telemed-web")
    assert service["spec"]["selector"].items() <= web_labels.items()


def test_the_ingress_keeps_websockets_open():
    ingress = by_kind_and_name("Ingress", "telemed")
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "telemed-web"


def test_the_example_secret_holds_only_placeholders_and_is_not_applied_by_kustomize():
    secret = by_kind_and_name("Secret", "telemed-secrets")
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, key
    kustomization = load_all(DEPLOY / "k8s" / "kustomization.yaml")[0]
    assert "secret.example.yaml" not in kustomization["resources"]
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).is_file(), resource


def test_configmap_and_secret_set_only_variables_the_settings_read():
    known = settings_variables()
    keys = set(by_kind_and_name("ConfigMap", "telemed-config")["data"]) | set(
        by_kind_and_name("Secret", "telemed-secrets")["stringData"]
    )
    assert keys <= known, keys - known
    assert {"SECRET_KEY", "AUDIT_HMAC_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"} <= keys


def test_the_compose_file_has_every_service_with_health_checks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "coturn", "minio", "minio-init", "migrate"} <= set(services)
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["minio"]["healthcheck"]["test"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("web", "worker", "beat", "migrate"):
        assert services[name]["env_file"] == ".env", name
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name
    assert "beat" in services["beat"]["command"] and "beat" not in services["worker"]["command"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    named_volumes = set(compose["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/", "$")):
                assert source in named_volumes, volume


def test_the_image_runs_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert "collectstatic" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "var", ".venv", ".git"} <= set(ignored)


def test_coturn_authenticates_with_a_shared_secret_and_refuses_private_peers():
    lines = {line.strip() for line in (DEPLOY / "coturn" / "turnserver.conf").read_text().splitlines()}
    assert "use-auth-secret" in lines
    assert any(line.startswith("static-auth-secret=CHANGE-ME") for line in lines)
    for denied in (
        "10.0.0.0-10.255.255.255",
        "127.0.0.0-127.255.255.255",
        "172.16.0.0-172.31.255.255",
        "192.168.0.0-192.168.255.255",
        "169.254.0.0-169.254.255.255",
        "::1",
        "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ):
        assert f"denied-peer-ip={denied}" in lines, denied
    assert "allow-loopback-peers" not in lines
    assert any(line.startswith(("user-quota=", "total-quota=")) for line in lines)
    assert any(line.startswith("cert=") for line in lines) and any(line.startswith("pkey=") for line in lines)


def test_every_variable_the_settings_read_is_documented():
    variables = settings_variables()
    assert len(variables) >= 30, variables
    env_example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    operations = (ROOT / "docs" / "operations.md").read_text()
    for name in sorted(variables):
        assert re.search(rf"^#? ?{name}=", env_example, re.M), f"{name} missing from .env.example"
        assert f"`{name}`" in readme, f"{name} missing from README.md"
    assert "Configuration" in operations


def test_the_readme_starts_with_make_run_then_make_test():
    lines = (ROOT / "README.md").read_text().splitlines()[:25]
    commands = [line.split("#", 1)[0].strip() for line in lines if line.strip().startswith("make ")]
    assert commands[:2] == ["make run", "make test"], commands
