"""batch/v1 Jobs in a real server with the process runtime, driven by real kubectl and the Python client.

The session cluster runs each pod's command on the host, so a Job's ``sh -c`` really runs, exits
with its code, and the Job controller counts it: ``kubectl wait --for=condition=complete``, ``logs
job/x``, ``get jobs``, ``describe job`` work as on any cluster.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cluster
from tests.waiting import eventually


def job_manifest(name: str, script: str, **spec: Any) -> str:
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}],
                }
            },
            **spec,
        },
    }
    return yaml.safe_dump(body)


def apply(cluster: Cluster, namespace: str, manifest: str, binary: Path | None = None) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest, binary=binary)


def get(cluster: Cluster, namespace: str, *what: str) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def condition(job: dict[str, Any], ctype: str) -> dict[str, Any]:
    found = next(c for c in job["status"].get("conditions") or [] if c["type"] == ctype and c["status"] == "True")
    return dict(found)


def wait_for(cluster: Cluster, namespace: str, name: str, what: str, timeout: int = 60) -> None:
    cluster.kubectl(
        "wait", f"--for=condition={what}", f"job/{name}", "-n", namespace, f"--timeout={timeout}s", timeout=timeout + 10
    )


def test_job_completes_with_logs_table_and_describe(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    ns, name = namespace, f"hello-{uuid.uuid4().hex[:4]}"
    apply(cluster, ns, job_manifest(name, "echo hello from the job"), kubectl_binary)
    cluster.kubectl("wait", "--for=condition=complete", f"job/{name}", "-n", ns, "--timeout=60s", binary=kubectl_binary)
    logs = cluster.kubectl("logs", f"job/{name}", "-n", ns, binary=kubectl_binary).stdout
    assert logs.strip() == "hello from the job"

    table = cluster.kubectl("get", "jobs", "-n", ns, binary=kubectl_binary).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table[1].split()[:3] == [name, "Complete", "1/1"]
    wide = cluster.kubectl("get", "job", name, "-o", "wide", "-n", ns, binary=kubectl_binary).stdout.splitlines()
    assert wide[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert "batch.kubernetes.io/controller-uid=" in wide[1]

    job = get(cluster, ns, "job", name)
    assert job["spec"]["backoffLimit"] == 6 and job["spec"]["completionMode"] == "NonIndexed"
    assert job["spec"]["podReplacementPolicy"] == "TerminatingOrFailed"
    assert job["spec"]["manualSelector"] is False
    assert job["metadata"]["labels"]["batch.kubernetes.io/job-name"] == name
    assert job["status"]["succeeded"] == 1 and job["status"]["completionTime"]
    assert condition(job, "SuccessCriteriaMet")["reason"] == "CompletionsReached"
    (pod,) = get(cluster, ns, "pods", "-l", f"job-name={name}")["items"]
    assert pod["metadata"].get("finalizers") in (None, [])  # counted, then released
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0

    described = cluster.kubectl("describe", "job", name, "-n", ns, binary=kubectl_binary).stdout
    assert "Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed" in described
    assert "Completed" in described and "SuccessfulCreate" in described
    on_field = cluster.kubectl("get", "jobs", "-n", ns, "--field-selector=status.successful=1", "-o", "name")
    assert on_field.stdout.strip() == f"job.batch/{name}"
    explained = cluster.kubectl("explain", "job.spec.backoffLimit", binary=kubectl_binary).stdout
    assert "GROUP:      batch" in explained and "FIELD: backoffLimit <integer>" in explained
    resources = cluster.kubectl("api-resources", "--api-group=batch", binary=kubectl_binary).stdout
    assert any(line.split()[:4] == ["jobs", "batch/v1", "true", "Job"] for line in resources.splitlines())


def test_kubectl_create_job(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    # kubectl ≥ 1.32 sends this body as protobuf.
    ns = namespace
    created = cluster.kubectl(
        "create", "job", "x", "--image=busybox", "-n", ns, "--", "sh", "-c", "echo made; exit 0", binary=kubectl_binary
    )
    assert "job.batch/x created" in created.stdout
    wait_for(cluster, ns, "x", "complete")
    assert cluster.kubectl("logs", "job/x", "-n", ns).stdout.strip() == "made"


def test_parallel_job_reaches_its_completions(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    apply(cluster, ns, job_manifest("par", "sleep 0.2", parallelism=3, completions=6))
    wait_for(cluster, ns, "par", "complete", timeout=90)
    job = get(cluster, ns, "job", "par")
    assert job["status"]["succeeded"] == 6
    assert "failed" not in job["status"]
    assert len(get(cluster, ns, "pods", "-l", "job-name=par")["items"]) == 6


def test_indexed_job_gives_each_pod_its_index(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    script = 'echo "index=$JOB_COMPLETION_INDEX host=$(hostname)"'
    apply(cluster, ns, job_manifest("idx", script, completionMode="Indexed", completions=3, parallelism=3))
    wait_for(cluster, ns, "idx", "complete")
    job = get(cluster, ns, "job", "idx")
    assert job["status"]["completedIndexes"] == "0-2"
    seen = set()
    for pod in get(cluster, ns, "pods", "-l", "job-name=idx")["items"]:
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == index
        assert pod["spec"]["hostname"] == f"idx-{index}"
        log = cluster.kubectl("logs", pod["metadata"]["name"], "-n", ns).stdout
        assert log.startswith(f"index={index} ")
        seen.add(index)
    assert seen == {"0", "1", "2"}


def test_failing_job_reaches_backoff_limit_exceeded(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    apply(cluster, ns, job_manifest("boom", "exit 3", backoffLimit=1))
    # backoffLimit 1: one retry after upstream's first back-off (10 s), then the Job fails.
    wait_for(cluster, ns, "boom", "failed", timeout=60)
    job = get(cluster, ns, "job", "boom")
    failed = condition(job, "Failed")
    assert (failed["reason"], failed["message"]) == (
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )
    assert job["status"]["failed"] == 2
    pods = get(cluster, ns, "pods", "-l", "job-name=boom")["items"]
    assert [p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods] == [3, 3]
    events = cluster.kubectl("get", "events", "-n", ns, "--field-selector=involvedObject.name=boom").stdout
    assert "BackoffLimitExceeded" in events


def test_pod_failure_policy_fails_the_job_on_an_exit_code(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    rules = [{"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}}]
    apply(cluster, ns, job_manifest("pfp", "exit 42", backoffLimit=6, podFailurePolicy={"rules": rules}))
    wait_for(cluster, ns, "pfp", "failed")
    failed = condition(get(cluster, ns, "job", "pfp"), "Failed")
    assert failed["reason"] == "PodFailurePolicy"
    assert "failed with exit code 42 matching FailJob rule at index 0" in failed["message"]


def test_suspend_and_resume(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    apply(cluster, ns, job_manifest("later", "echo resumed", suspend=True))
    job = eventually(
        lambda: condition(get(cluster, ns, "job", "later"), "Suspended") and get(cluster, ns, "job", "later")
    )
    assert get(cluster, ns, "pods", "-l", "job-name=later")["items"] == []
    assert "startTime" not in job["status"]
    table = cluster.kubectl("get", "job", "later", "-n", ns).stdout.splitlines()
    assert table[1].split()[1] == "Suspended"
    cluster.kubectl("patch", "job", "later", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    wait_for(cluster, ns, "later", "complete")
    resumed = next(c for c in get(cluster, ns, "job", "later")["status"]["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")


def test_ttl_after_finished_deletes_the_job_and_its_pods(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    apply(cluster, ns, job_manifest("brief", "exit 0", ttlSecondsAfterFinished=0))

    def gone() -> bool:
        assert cluster.kubectl("get", "job", "brief", "-n", ns, check=False).returncode != 0
        assert get(cluster, ns, "pods", "-l", "job-name=brief")["items"] == []
        return True

    eventually(gone, timeout=60, what="the Job and its pod deleted after its TTL")


def test_deleting_a_job_deletes_its_pods(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    ns = namespace
    apply(cluster, ns, job_manifest("long", "sleep 60", parallelism=2, completions=2))
    eventually(lambda: len(get(cluster, ns, "pods", "-l", "job-name=long")["items"]) == 2, what="2 pods")
    cluster.kubectl("delete", "job", "long", "-n", ns, binary=kubectl_binary)
    eventually(
        lambda: get(cluster, ns, "pods", "-l", "job-name=long")["items"] == [],
        timeout=60,
        what="the garbage collector deleting the Job's pods",
    )


def test_invalid_jobs_are_refused_with_upstream_messages(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    bad = yaml.safe_load(job_manifest("bad", "exit 0"))
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    result = cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert result.returncode != 0
    assert (
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'
        in result.stderr
    )
    per_index = yaml.safe_load(job_manifest("bad", "exit 0", backoffLimitPerIndex=1))
    result = cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(per_index), check=False)
    assert "spec.backoffLimitPerIndex: Forbidden: requires indexed completion mode" in result.stderr

    apply(cluster, ns, job_manifest("fixed", "sleep 30", completions=2))
    changed = cluster.kubectl(
        "patch", "job", "fixed", "-n", ns, "--type=merge", "-p", '{"spec":{"completions":3}}', check=False
    )
    assert changed.returncode != 0 and "spec.completions: Invalid value: 3: field is immutable" in changed.stderr


def test_python_client_batch_v1(cluster: Cluster, namespace: str) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    api_client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        batch = kubernetes.client.BatchV1Api(api_client)
        body = yaml.safe_load(job_manifest("py", "exit 0"))
        created = batch.create_namespaced_job(namespace, body)
        assert created.spec.selector.match_labels["batch.kubernetes.io/controller-uid"] == created.metadata.uid

        def complete() -> Any:
            job = batch.read_namespaced_job_status("py", namespace)
            assert job.status.succeeded == 1
            return job

        job = eventually(complete, timeout=60, what="the Job complete")
        assert [c.type for c in job.status.conditions] == ["SuccessCriteriaMet", "Complete"]
        assert [j.metadata.name for j in batch.list_namespaced_job(namespace).items] == ["py"]
        batch.delete_namespaced_job("py", namespace, propagation_policy="Background")
        eventually(lambda: batch.list_namespaced_job(namespace).items == [], timeout=30, what="the Job deleted")

        # With no propagation policy a batch/v1 Job's pods are orphaned, as upstream does.
        batch.create_namespaced_job(namespace, yaml.safe_load(job_manifest("kept", "exit 0")))
        eventually(lambda: batch.read_namespaced_job_status("kept", namespace).status.succeeded == 1, timeout=60)
        batch.delete_namespaced_job("kept", namespace)
        core = kubernetes.client.CoreV1Api(api_client)

        def orphaned() -> bool:
            pods = core.list_namespaced_pod(namespace, label_selector="batch.kubernetes.io/job-name=kept").items
            assert len(pods) == 1 and not pods[0].metadata.owner_references
            assert batch.list_namespaced_job(namespace).items == []
            return True

        eventually(orphaned, timeout=30, what="the Job gone and its pod orphaned")
    finally:
        api_client.close()
