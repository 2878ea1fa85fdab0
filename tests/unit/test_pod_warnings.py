"""Pod and pod-template write warnings as upstream's ``pkg/api/pod/warnings.go`` gives them."""

from __future__ import annotations

from typing import Any

from kuberya.resources import kinds
from kuberya.resources.pod_warnings import pod_spec_warnings, pod_warnings, template_warnings


def _container(**extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx", **extra}


def test_deprecated_node_labels_in_selectors_affinity_and_spread() -> None:
    spec = {
        "nodeSelector": {"beta.kubernetes.io/os": "linux"},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "failure-domain.beta.kubernetes.io/zone"}]}]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": {"matchExpressions": [{"key": "node-role.kubernetes.io/master"}]}}
                ],
            }
        },
        "topologySpreadConstraints": [{"topologyKey": "beta.kubernetes.io/arch", "maxSkew": 1}],
        "containers": [_container()],
    }
    assert pod_spec_warnings(spec, {}, "spec.template") == [
        "spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; "
        'use "kubernetes.io/os" instead',
        "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].key: failure-domain.beta.kubernetes.io/zone is deprecated since v1.17; "
        'use "topology.kubernetes.io/zone" instead',
        "spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference"
        ".matchExpressions[0].key: node-role.kubernetes.io/master is "
        'use "node-role.kubernetes.io/control-plane" instead',
        "spec.template.spec.topologySpreadConstraints[0].topologyKey: beta.kubernetes.io/arch is deprecated since "
        'v1.14; use "kubernetes.io/arch" instead',
        "spec.template.spec.topologySpreadConstraints[0].labelSelector: "
        "a null labelSelector results in matching no pod",
    ]


def test_duplicates_fractions_ports_and_grace_period() -> None:
    spec = {
        "hostAliases": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.1"}],
        "imagePullSecrets": [{"name": "a"}, {"name": "a"}, {"name": ""}],
        "terminationGracePeriodSeconds": -5,
        "containers": [
            _container(
                env=[{"name": "X", "value": "1"}, {"name": "X", "value": "2"}, {"name": "X", "value": "$(X)-more"}],
                resources={"requests": {"memory": "100m"}, "limits": {"memory": "1Gi"}},
                ports=[{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81, "hostIP": "1.2.3.4"}],
            ),
            _container(name="side", ports=[{"containerPort": 80, "protocol": "TCP"}]),
        ],
    }
    assert pod_spec_warnings(spec, {}) == [
        'spec.hostAliases[1].ip: duplicate ip "10.0.0.1"',
        'spec.imagePullSecrets[1].name: duplicate name "a"',
        'spec.imagePullSecrets[2].name: invalid empty name ""',
        'spec.containers[0].resources.requests[memory]: fractional byte value "100m" is invalid, must be an integer',
        'spec.containers[0].env[1]: hides previous definition of "X", which may be dropped when using apply',
        "spec.containers[0].ports[1]: hostIP set without hostPort: "
        "{Name: HostPort:0 ContainerPort:81 Protocol: HostIP:1.2.3.4}",
        "spec.containers[1].ports[0]: duplicate port definition with spec.containers[0].ports[0]",
        "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1",
    ]


def test_deprecated_annotations_and_volume_plugins() -> None:
    meta = {
        "annotations": {
            "scheduler.alpha.kubernetes.io/critical-pod": "",
            "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
            "container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
        }
    }
    spec = {"volumes": [{"name": "g", "gitRepo": {"repository": "x"}}], "containers": [_container()]}
    assert pod_spec_warnings(spec, meta, "spec.template") == [
        "spec.template.metadata.annotations[scheduler.alpha.kubernetes.io/critical-pod]: non-functional in v1.16+; "
        'use the "priorityClassName" field instead',
        "spec.template.spec.volumes[0].gitRepo: deprecated in v1.11",
        "spec.template.metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: non-functional in v1.27+; "
        'use the "seccompProfile" field instead',
        "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]: deprecated since "
        'v1.30; use the "appArmorProfile" field instead',
    ]
    # a pod (not a template) is not told about AppArmor annotations here, as upstream
    assert not any("apparmor" in w for w in pod_spec_warnings(spec, meta))


def test_a_clean_pod_gets_none_and_a_dotted_pod_name_is_warned_about() -> None:
    pod = {"metadata": {"name": "web"}, "spec": {"containers": [_container()]}}
    assert pod_warnings(pod, None) == []
    dotted = {"metadata": {"name": "web.v2"}, "spec": {"containers": [_container()]}}
    (warning,) = pod_warnings(dotted, None)
    assert warning.startswith("metadata.name: this is used in the Pod's hostname, which can result in surprising")
    assert pod_warnings(dotted, dotted) == []  # the name is warned about on create only


def test_workload_kinds_warn_on_create_and_on_spec_changes_only() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "generation": 1},
        "spec": {"template": {"spec": {"nodeSelector": {"beta.kubernetes.io/arch": "amd64"}, "containers": []}}},
    }
    warn = kinds.spec_of(kinds.lookup("apps", "v1", "deployments")).warnings  # type: ignore[arg-type]
    assert warn(deployment, None) == [
        'spec.template.spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "kubernetes.io/arch" '
        "instead"
    ]
    relabelled = {**deployment, "metadata": {"name": "d", "generation": 1, "labels": {"a": "b"}}}
    assert warn(relabelled, deployment) == []
    bumped = {**deployment, "metadata": {"name": "d", "generation": 2}}
    assert len(warn(bumped, deployment)) == 1
    assert template_warnings("template")(
        {"metadata": {}, "template": {"spec": {"terminationGracePeriodSeconds": -1}}}, None
    ) == [
        "template.spec.terminationGracePeriodSeconds: must be >= 0; "
        "negative values are invalid and will be treated as 1"
    ]


def test_jobs_and_cron_jobs_carry_their_template_warnings() -> None:
    template = {"spec": {"restartPolicy": "Never", "nodeSelector": {"beta.kubernetes.io/os": "linux"}}}
    job = {"metadata": {"name": "j", "generation": 1}, "spec": {"template": template}}
    job_warn = kinds.spec_of(kinds.lookup("batch", "v1", "jobs")).warnings  # type: ignore[arg-type]
    assert [w.split(":")[0] for w in job_warn(job, None)] == ["spec.template.spec.nodeSelector[beta.kubernetes.io/os]"]
    cron = {"metadata": {"name": "c", "generation": 1}, "spec": {"jobTemplate": {"spec": {"template": template}}}}
    cron_warn = kinds.spec_of(kinds.lookup("batch", "v1", "cronjobs")).warnings  # type: ignore[arg-type]
    assert [w.split(":")[0] for w in cron_warn(cron, None)] == [
        "spec.jobTemplate.spec.template.spec.nodeSelector[beta.kubernetes.io/os]"
    ]
