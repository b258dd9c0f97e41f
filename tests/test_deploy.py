"""deploy/kubernetes/: the manifests are well-formed for their kinds, agree with each other
(the Secret's keys, the study name), and their scalesearch command lines parse.

kubectl's client-side dry run still asks an API server for its resource types, and CI has
none, so every document is validated offline against the published OpenAPI schemas of two
Kubernetes versions (kubernetes-validate, strict: an unknown field fails too), besides the
fields each kind requires."""

import shlex

import pytest
import yaml

from tests.conftest import REPO

FOLDER = REPO / "deploy" / "kubernetes"
REQUIRED = {("v1", "Secret"): ["metadata.name"],
            ("v1", "Service"): ["metadata.name", "spec.selector", "spec.ports"],
            ("apps/v1", "StatefulSet"): ["metadata.name", "spec.serviceName", "spec.selector.matchLabels",
                                         "spec.template.metadata.labels", "spec.template.spec.containers"],
            ("batch/v1", "Job"): ["metadata.name", "spec.template.spec.containers",
                                  "spec.template.spec.restartPolicy"]}


def _documents():
    return [(path.name, doc) for path in sorted(FOLDER.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())
            if doc]


def _get(doc, dotted):
    for key in dotted.split("."):
        doc = doc[key]
    return doc


# The oldest Kubernetes release still commonly run and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(version):
    import kubernetes_validate  # the [test] extra brings it: CI must not skip this

    documents = _documents()
    assert len(documents) >= 4
    for name, doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError, naming the field


def test_the_schema_check_can_fail():
    import kubernetes_validate  # the [test] extra brings it: CI must not skip this

    name, job = next((n, d) for n, d in _documents() if d["kind"] == "Job")
    bad = {**job, "spec": {**job["spec"], "parallelism": "eight"}}  # a number the schema wants
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSIONS[-1], strict=True)
    typo = {**job, "spec": {**job["spec"], "paralelism": 8}}  # strict: a field no Job has
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSIONS[-1], strict=True)


def test_every_manifest_has_the_fields_its_kind_requires():
    kinds = set()
    for name, doc in _documents():
        kind = (doc["apiVersion"], doc["kind"])
        assert kind in REQUIRED, f"{name}: {kind} is not checked here"
        for field in REQUIRED[kind]:
            assert _get(doc, field), f"{name} {doc['kind']}: {field} is empty"
        kinds.add(kind)
        if doc["kind"] == "StatefulSet":
            assert doc["spec"]["selector"]["matchLabels"].items() <= doc["spec"]["template"]["metadata"]["labels"].items()
        if doc["kind"] == "Job":
            assert doc["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert ("apps/v1", "StatefulSet") in kinds and ("batch/v1", "Job") in kinds


def test_the_jobs_read_the_storage_url_the_secret_holds_and_name_one_study():
    docs = _documents()
    secret = next(d for _, d in docs if d["kind"] == "Secret")
    studies = set()
    for _, job in [(n, d) for n, d in docs if d["kind"] == "Job"]:
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
        assert env["STORAGE_URL"]["name"] == secret["metadata"]["name"]
        assert env["STORAGE_URL"]["key"] in secret["stringData"]
        command = container["command"]
        studies.add(command[command.index("--study") + 1])
    assert len(studies) == 1


@pytest.mark.parametrize("job", ["setup-job.yaml", "workers-job.yaml"])
def test_the_jobs_command_lines_are_ones_scalesearch_accepts(cli, tmp_path, job):
    doc = next(d for n, d in _documents() if n == job)
    command = doc["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[0] == "scalesearch"
    args = [a.replace("$(STORAGE_URL)", f"journal:{tmp_path / 'j'}") for a in command[1:]]
    if args[0] == "grid":  # parse only (an unknown option fails before --help is served): measuring takes time
        result = cli(*args, "--help")
        assert result.exit_code == 0, shlex.join(args) + "\n" + result.output
    else:  # parsed, then looked for the study
        result = cli(*args)
        assert result.exit_code == 1 and "no study 'r50'" in result.output, result.output
