"""Field tables for k8s.io/api ``apps/v1``, ``autoscaling/v1`` and ``autoscaling/v2``.

Copied from upstream ``generated.proto``. Notation: see ``_schema``. apps/v1 covers Deployment and
ReplicaSet (not DaemonSet, StatefulSet, ControllerRevision); autoscaling/v1 covers the HPA and Scale
(not its annotation-only metric types).
"""

from __future__ import annotations

from ._schema import Package

APPS_V1 = Package(
    proto_package="k8s.io.api.apps.v1",
    file_name="k8s.io/api/apps/v1/generated.proto",
    dependencies=("core", "meta", "intstr"),
    messages={
        "Deployment": ("metadata=1 meta.ObjectMeta", "spec=2 DeploymentSpec", "status=3 DeploymentStatus"),
        "DeploymentSpec": (
            "replicas=1 *int32",
            "selector=2 meta.LabelSelector",
            "template=3 core.PodTemplateSpec",
            "strategy=4 DeploymentStrategy",
            "minReadySeconds=5 int32",
            "revisionHistoryLimit=6 *int32",
            "paused=7 bool",
            "progressDeadlineSeconds=9 *int32",
            "podReplacementPolicy=10 *string",
        ),
        "DeploymentStrategy": ("type=1 string", "rollingUpdate=2 RollingUpdateDeployment"),
        "RollingUpdateDeployment": ("maxUnavailable=1 intstr.IntOrString", "maxSurge=2 intstr.IntOrString"),
        "DeploymentStatus": (
            "observedGeneration=1 int64",
            "replicas=2 int32",
            "updatedReplicas=3 int32",
            "readyReplicas=7 int32",
            "availableReplicas=4 int32",
            "unavailableReplicas=5 int32",
            "terminatingReplicas=9 *int32",
            "conditions=6 []DeploymentCondition",
            "collisionCount=8 *int32",
        ),
        "DeploymentCondition": (
            "type=1 string",
            "status=2 string",
            "lastUpdateTime=6 meta.Time",
            "lastTransitionTime=7 meta.Time",
            "reason=4 string",
            "message=5 string",
        ),
        "ReplicaSet": ("metadata=1 meta.ObjectMeta", "spec=2 ReplicaSetSpec", "status=3 ReplicaSetStatus"),
        "ReplicaSetSpec": (
            "replicas=1 *int32",
            "minReadySeconds=4 int32",
            "selector=2 meta.LabelSelector",
            "template=3 core.PodTemplateSpec",
        ),
        "ReplicaSetStatus": (
            "replicas=1 *int32",
            "fullyLabeledReplicas=2 int32",
            "readyReplicas=4 int32",
            "availableReplicas=5 int32",
            "terminatingReplicas=7 *int32",
            "observedGeneration=3 int64",
            "conditions=6 []ReplicaSetCondition",
        ),
        "ReplicaSetCondition": (
            "type=1 string",
            "status=2 string",
            "lastTransitionTime=3 meta.Time",
            "reason=4 string",
            "message=5 string",
        ),
    },
)

_HPA_CONDITION = (
    "type=1 string",
    "status=2 string",
    "lastTransitionTime=3 meta.Time",
    "reason=4 string",
    "message=5 string",
)
_CROSS_VERSION_REF = ("kind=1 string", "name=2 string", "apiVersion=3 string")

AUTOSCALING_V1 = Package(
    proto_package="k8s.io.api.autoscaling.v1",
    file_name="k8s.io/api/autoscaling/v1/generated.proto",
    dependencies=("meta",),
    messages={
        "HorizontalPodAutoscaler": (
            "metadata=1 meta.ObjectMeta",
            "spec=2 HorizontalPodAutoscalerSpec",
            "status=3 HorizontalPodAutoscalerStatus",
        ),
        "HorizontalPodAutoscalerSpec": (
            "scaleTargetRef=1 CrossVersionObjectReference",
            "minReplicas=2 *int32",
            "maxReplicas=3 *int32",
            "targetCPUUtilizationPercentage=4 *int32",
        ),
        "HorizontalPodAutoscalerStatus": (
            "observedGeneration=1 *int64",
            "lastScaleTime=2 meta.Time",
            "currentReplicas=3 *int32",
            "desiredReplicas=4 *int32",
            "currentCPUUtilizationPercentage=5 *int32",
        ),
        "HorizontalPodAutoscalerCondition": _HPA_CONDITION,
        "CrossVersionObjectReference": _CROSS_VERSION_REF,
        "Scale": ("metadata=1 meta.ObjectMeta", "spec=2 ScaleSpec", "status=3 ScaleStatus"),
        # replicas: 0 is a real request (scale to zero); keep it rather than rely on omitempty.
        "ScaleSpec": ("replicas=1 *int32",),
        "ScaleStatus": ("replicas=1 *int32", "selector=2 string"),
    },
)

AUTOSCALING_V2 = Package(
    proto_package="k8s.io.api.autoscaling.v2",
    file_name="k8s.io/api/autoscaling/v2/generated.proto",
    dependencies=("meta", "resource"),
    messages={
        "HorizontalPodAutoscaler": (
            "metadata=1 meta.ObjectMeta",
            "spec=2 HorizontalPodAutoscalerSpec",
            "status=3 HorizontalPodAutoscalerStatus",
        ),
        "HorizontalPodAutoscalerSpec": (
            "scaleTargetRef=1 CrossVersionObjectReference",
            "minReplicas=2 *int32",
            "maxReplicas=3 *int32",
            "metrics=4 []MetricSpec",
            "behavior=5 HorizontalPodAutoscalerBehavior",
        ),
        "CrossVersionObjectReference": _CROSS_VERSION_REF,
        "MetricSpec": (
            "type=1 string",
            "object=2 ObjectMetricSource",
            "pods=3 PodsMetricSource",
            "resource=4 ResourceMetricSource",
            "containerResource=7 ContainerResourceMetricSource",
            "external=5 ExternalMetricSource",
        ),
        "ObjectMetricSource": (
            "describedObject=1 CrossVersionObjectReference",
            "target=2 MetricTarget",
            "metric=3 MetricIdentifier",
        ),
        "PodsMetricSource": ("metric=1 MetricIdentifier", "target=2 MetricTarget"),
        "ResourceMetricSource": ("name=1 string", "target=2 MetricTarget"),
        "ContainerResourceMetricSource": ("name=1 string", "target=2 MetricTarget", "container=3 string"),
        "ExternalMetricSource": ("metric=1 MetricIdentifier", "target=2 MetricTarget"),
        "MetricIdentifier": ("name=1 string", "selector=2 meta.LabelSelector"),
        "MetricTarget": (
            "type=1 string",
            "value=2 resource.Quantity",
            "averageValue=3 resource.Quantity",
            "averageUtilization=4 *int32",
        ),
        "HorizontalPodAutoscalerBehavior": ("scaleUp=1 HPAScalingRules", "scaleDown=2 HPAScalingRules"),
        "HPAScalingRules": (
            "stabilizationWindowSeconds=3 *int32",
            "selectPolicy=1 *string",
            "policies=2 []HPAScalingPolicy",
            "tolerance=4 resource.Quantity",
        ),
        "HPAScalingPolicy": ("type=1 string", "value=2 *int32", "periodSeconds=3 *int32"),
        "HorizontalPodAutoscalerStatus": (
            "observedGeneration=1 *int64",
            "lastScaleTime=2 meta.Time",
            "currentReplicas=3 int32",
            "desiredReplicas=4 *int32",
            "currentMetrics=5 []MetricStatus",
            "conditions=6 []HorizontalPodAutoscalerCondition",
        ),
        "HorizontalPodAutoscalerCondition": _HPA_CONDITION,
        "MetricStatus": (
            "type=1 string",
            "object=2 ObjectMetricStatus",
            "pods=3 PodsMetricStatus",
            "resource=4 ResourceMetricStatus",
            "containerResource=7 ContainerResourceMetricStatus",
            "external=5 ExternalMetricStatus",
        ),
        "ObjectMetricStatus": (
            "metric=1 MetricIdentifier",
            "current=2 MetricValueStatus",
            "describedObject=3 CrossVersionObjectReference",
        ),
        "PodsMetricStatus": ("metric=1 MetricIdentifier", "current=2 MetricValueStatus"),
        "ResourceMetricStatus": ("name=1 string", "current=2 MetricValueStatus"),
        "ContainerResourceMetricStatus": (
            "name=1 string",
            "current=2 MetricValueStatus",
            "container=3 string",
        ),
        "ExternalMetricStatus": ("metric=1 MetricIdentifier", "current=2 MetricValueStatus"),
        "MetricValueStatus": (
            "value=1 resource.Quantity",
            "averageValue=2 resource.Quantity",
            "averageUtilization=3 *int32",
        ),
    },
)
