"""deploy/kuberay/ agrees with the Dockerfile, pyproject and the study it runs: the image and Ray version, the
launch command and its study file, GPU workers that hold the study's trials, the shared storage, token auth
from a Secret, and the MLflow Service the trials log to; the Kubernetes objects and every pod template are
valid against Kubernetes' own schemas (strict: no unknown field); every container is hardened."""

from __future__ import annotations

import re
import shlex
from typing import Any

import kubernetes_validate
import pytest

from study.run.gpu import gpu_fit_error
from study.spec import load_spec
from tests.deploy.files import BASE_IMAGE, KUBERAY, REPO, containers, dockerfile, manifests, pyproject

COMMAND = ("python -m study.launch search_spaces/paper_mnist.yaml --address auto --storage /mnt/studies "
           "--tracking-uri http://mlflow:5000")
IMAGE = f"deligan-study:{pyproject()['project']['version']}"


def _rayjob() -> dict[str, Any]:
    (job,) = manifests("rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    return job


def _by_kind(name: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in manifests(name)}


def _quantity(value: Any) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _launch_args() -> list[str]:
    entrypoint = _rayjob()["spec"]["entrypoint"]
    commands = [shlex.split(c) for c in entrypoint.split("&&")]
    assert commands[-1][:3] == ["python", "-m", "study.launch"], entrypoint
    workdir = [i.args for i in dockerfile() if i.keyword == "WORKDIR"][-1]
    assert commands[:-1] in ([], [["cd", workdir]])  # runs where the image keeps search_spaces/
    return commands[-1][3:]


def test_every_container_runs_the_image_the_dockerfile_builds() -> None:
    images = {c["image"] for name in ("rayjob.yaml", "mlflow.yaml") for d in manifests(name) for c in containers(d)}
    assert images == {IMAGE}
    assert f"docker build -t {IMAGE} ." in (REPO / "Dockerfile").read_text()
    base = BASE_IMAGE.match([i.args for i in dockerfile() if i.keyword == "FROM"][0])
    assert _rayjob()["spec"]["rayClusterSpec"]["rayVersion"] == base["ray"]


def test_the_job_runs_the_paper_study_on_shared_storage_with_the_mlflow_service() -> None:
    assert " ".join(_launch_args()) == COMMAND.split(" ", 3)[3]
    args = _launch_args()
    spec_path, options = args[0], dict(zip(args[1::2], args[2::2]))
    load_spec(REPO / spec_path)  # the study file exists and is valid
    assert any(i.keyword == "COPY" and i.args.split()[-2] == "search_spaces/" for i in dockerfile())
    cluster = _rayjob()["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    (claim,) = manifests("storage.yaml")
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # pods on different machines share it
    for pod in pods:
        mounts = {m["mountPath"]: m["name"] for c in pod["spec"]["containers"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes[mounts[options["--storage"]]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    host, port = re.fullmatch(r"http://([\w.-]+):(\d+)", options["--tracking-uri"]).groups()
    service = _by_kind("mlflow.yaml")["Service"]
    assert service["metadata"]["name"] == host and [p["port"] for p in service["spec"]["ports"]] == [int(port)]


def test_gpu_workers_hold_the_studys_trials_and_the_head_none() -> None:
    spec = load_spec(REPO / _launch_args()[0])
    cluster = _rayjob()["spec"]["rayClusterSpec"]
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]
    assert "nvidia.com/gpu" not in head["limits"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # the driver's pod runs no trial
    node_gpus = []
    for group in cluster["workerGroupSpecs"]:
        pod = group["template"]["spec"]
        (container,) = pod["containers"]
        gpus = int(container["resources"]["limits"]["nvidia.com/gpu"])
        cpus = _quantity(container["resources"]["limits"]["cpu"])
        assert gpus > 1  # multi-GPU pods
        gpu_request = container["resources"]["requests"]["nvidia.com/gpu"]
        assert gpu_request == container["resources"]["limits"]["nvidia.com/gpu"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        assert cpus / spec.resources.cpu >= gpus / spec.resources.gpu  # enough CPUs to fill every GPU share
        node_gpus += [gpus] * group["replicas"]
    assert gpu_fit_error(spec.resources.gpu, node_gpus, max_concurrent=spec.max_concurrent) is None
    trials_at_once = sum(n / spec.resources.gpu for n in node_gpus)
    assert trials_at_once <= spec.trials_per_cell * len(spec.cells())  # no worker pod idles in the search


def test_ray_token_auth_is_on_and_its_token_comes_from_a_secret() -> None:
    auth = _rayjob()["spec"]["rayClusterSpec"]["authOptions"]
    assert auth["mode"] == "token" and auth["secretName"]
    for name in ("rayjob.yaml", "mlflow.yaml", "storage.yaml"):
        assert not [d for d in manifests(name) if d["kind"] == "Secret"]  # created by hand, never committed
        for document in manifests(name):
            for container in containers(document):
                for env in container.get("env", []):
                    assert not re.search(r"TOKEN|PASSWORD|SECRET", env["name"]) or "valueFrom" in env, env


def test_mlflow_has_a_sql_store_an_artifact_store_and_allows_its_service_name() -> None:
    kinds = _by_kind("mlflow.yaml")
    deployment, service = kinds["Deployment"], kinds["Service"]
    assert service["spec"]["type"] == "ClusterIP"  # no public address: port-forward to open the UI
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    options = dict(zip(command[2::2], command[3::2]))
    assert command[:2] == ["mlflow", "server"] and options["--port"] == str(service["spec"]["ports"][0]["port"])
    assert re.match(r"(sqlite|postgresql|mysql)(\+\w+)?://", options["--backend-store-uri"])
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    for path in (options["--backend-store-uri"].removeprefix("sqlite:///"), options["--artifacts-destination"]):
        assert any(path.startswith(m + "/") for m in mounts), path  # on the server's volume, not in the pod
    name, port = service["metadata"]["name"], service["spec"]["ports"][0]["port"]
    allowed = options["--allowed-hosts"].split(",")
    assert f"{name}:{port}" in allowed and "*" not in allowed
    if options["--backend-store-uri"].startswith("sqlite"):
        assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
        assert options["--workers"] == "1"


def test_the_guide_applies_every_manifest() -> None:
    guide = (REPO / "docs" / "cluster.md").read_text()
    for path in sorted(KUBERAY.glob("*.yaml")):
        assert f"kubectl apply -f deploy/kuberay/{path.name}" in guide, path.name
    assert COMMAND in " ".join(_rayjob()["spec"]["entrypoint"].split())


KUBERNETES = "1.33"  # the schemas checked against (kubernetes-validate holds them offline)


def _pod_templates() -> list[dict[str, Any]]:
    cluster = _rayjob()["spec"]["rayClusterSpec"]
    deployment = _by_kind("mlflow.yaml")["Deployment"]
    return ([cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
            + [deployment["spec"]["template"]])


@pytest.mark.parametrize("name", ["mlflow.yaml", "storage.yaml"])
def test_the_kubernetes_objects_are_valid_against_kubernetes_schemas(name: str) -> None:
    for document in manifests(name):
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_every_pod_template_is_a_valid_pod_template_spec() -> None:
    # The RayJob's own fields follow KubeRay's CRD (not vendored here); its pod templates are core PodTemplateSpecs.
    for template in _pod_templates():
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "check"},
                                      "template": template}, KUBERNETES, strict=True)


def test_a_broken_template_is_caught_by_the_schema_check() -> None:
    template = _pod_templates()[0]
    broken = {**template, "spec": {**template["spec"], "containers": [{**template["spec"]["containers"][0],
                                                                       "imagePullPolcy": "Always"}]}}
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolcy"):
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "check"},
                                      "template": broken}, KUBERNETES, strict=True)


def test_every_container_runs_unprivileged_under_the_default_seccomp_profile() -> None:
    for template in _pod_templates():
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True
        for container in template["spec"]["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_mlflow_server_is_restarted_when_it_stops_answering() -> None:
    (container,) = _by_kind("mlflow.yaml")["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
