"""Every upstream launch error (spec §11) that applies: the same Python class and key
phrase. The checks before the first engine contact need no engine; the engine ones use
the real engine."""

import re

import pytest

from berth.nvflare import ClientDockerJobLauncher, ServerDockerJobLauncher

IMAGE = "berth-pytest-absent/image:never"


def meta(site, job_id="job-1", docker=None, **extra):
    spec = {"image": IMAGE} if docker is None else docker
    m = {"job_id": job_id, "launcher_spec": {site.name: {"docker": spec}}}
    m.update(extra)
    return m


def launch(launcher, site, job_meta, **ctx):
    return launcher.launch_job(job_meta, site.context(job_meta.get("job_id") or "job-1", **ctx))


@pytest.fixture
def client(client_site):
    return ClientDockerJobLauncher(workspace=str(client_site.root), network="berth-pytest-unused-net")


# L1 (C065)
@pytest.mark.parametrize("job_meta", [{}, {"job_id": ""}, {"job_id": None}])
def test_missing_job_id(client, client_site, job_meta):
    with pytest.raises(RuntimeError, match="missing JOB_ID in job_meta"):
        client.launch_job(job_meta, client_site.context("job-1"))


# L2 (C066)
@pytest.mark.parametrize("job_args", [None, {}])
def test_missing_job_process_args(client, client_site, job_args):
    with pytest.raises(RuntimeError, match="missing __job_process_args__ in FLContext"):
        launch(client, client_site, meta(client_site), job_args=job_args)


# L3
def test_missing_exe_module(client, client_site):
    args = client_site.job_args("job-1")
    args["exe_module"] = None
    with pytest.raises(RuntimeError, match="missing exe_module in JOB_PROCESS_ARGS"):
        launch(client, client_site, meta(client_site), job_args=args)


# L4 (C048–C057)
@pytest.mark.parametrize("image, type_name", [
    (123, "int"), (1.5, "float"), (True, "bool"), (["a", "b"], "list"), ({"name": "x"}, "dict"),
    (False, "bool"), (0, "int"), (0.0, "float"), ([], "list"), ({}, "dict"),
])
def test_image_not_a_string(client, client_site, image, type_name):
    phrase = f"launcher_spec docker image for site '{client_site.name}' must be a string, got {type_name}"
    with pytest.raises(RuntimeError, match=re.escape(phrase)):
        launch(client, client_site, meta(client_site, docker={"image": image}))


# L5 (C090)
@pytest.mark.parametrize("python_path", ["   ", "", None])
def test_job_python_path_blank(client, client_site, python_path):
    with pytest.raises(RuntimeError, match=r"\['python_path'\] must be a non-empty string"):
        launch(client, client_site, meta(client_site, docker={"image": IMAGE, "python_path": python_path}))


# L6 (C091–C099)
@pytest.mark.parametrize("option", [
    "privileged", "pid_mode", "ipc_mode", "devices", "cap_add", "security_opt", "network_mode", "volumes",
    "device_requests",
])
def test_unsupported_job_option(client, client_site, option):
    with pytest.raises(RuntimeError, match="unsupported job-controlled Docker option"):
        launch(client, client_site, meta(client_site, docker={"image": IMAGE, option: "x"}))


# L7 (C101–C106)
@pytest.mark.parametrize("gpus", [True, False, "1", 1.5, -1, None])
def test_invalid_num_of_gpus(client, client_site, gpus):
    with pytest.raises(RuntimeError, match="num_of_gpus.*integer greater than or equal to 0"):
        launch(client, client_site, meta(client_site, docker={"image": IMAGE, "num_of_gpus": gpus}))


# berth: a job_id that is not a string is bad input (ValueError), as is a NUL byte in it.
@pytest.mark.parametrize("job_id, phrase", [
    (5, "job_id in job_meta must be a string"),
    (["job-1"], "job_id in job_meta must be a string"),
    ("job\x001", "NUL byte"),
])
def test_job_id_type_and_nul(client, client_site, job_id, phrase):
    with pytest.raises(ValueError, match=phrase):
        client.launch_job(meta(client_site, job_id=job_id), client_site.context("job-1"))


# berth: the site's security profile and image allowlist, checked by the native part.
def test_unknown_security_profile(client_site):
    launcher = ClientDockerJobLauncher(workspace=str(client_site.root), security_profile="strict")
    with pytest.raises(ValueError, match="security_profile"):
        launch(launcher, client_site, meta(client_site))


def test_image_outside_allowed_images(client_site):
    launcher = ClientDockerJobLauncher(
        workspace=str(client_site.root), network="berth-pytest-unused-net", allowed_images=["registry.local/*"]
    )
    with pytest.raises(RuntimeError, match=re.escape(f"image '{IMAGE}'") + ".*allowed_images"):
        launch(launcher, client_site, meta(client_site))


# The drop-in keeps upstream's rule: the job meta the parent passes decides BYOC.
def test_entrypoint_with_byoc_in_the_meta_passes_the_check(client, client_site):
    job = meta(client_site, docker={"image": IMAGE, "entrypoint": "/bin/sh"}, byoc=True)
    with pytest.raises(RuntimeError) as refused:
        launch(client, client_site, job)
    # It gets past the BYOC check and stops at the first engine contact instead.
    assert "BYOC" not in str(refused.value)


# L8 (C100)
def test_entrypoint_without_byoc(client, client_site):
    phrase = f"job Docker spec for site '{client_site.name}'.*lacks locally authorized BYOC"
    with pytest.raises(RuntimeError, match=phrase):
        launch(client, client_site, meta(client_site, docker={"image": IMAGE, "entrypoint": "/bin/sh"}))


# L9
def test_invalid_portable_resource(client, client_site):
    job = meta(client_site, resource_spec={client_site.name: {"num_of_cpus": "many"}})
    with pytest.raises(ValueError, match=re.escape(f"resource_spec for site '{client_site.name}'.num_of_cpus")):
        launch(client, client_site, job)


# L10 (C129)
def test_v1_and_v2_study_files_together(client, client_site):
    client_site.local("study_runtime.yaml", "format_version: 2\nstudies: {}\n")
    client_site.local("study_data.yaml", "{}\n")
    with pytest.raises(RuntimeError, match="cannot be combined"):
        launch(client, client_site, meta(client_site))


# L11 (C128, C130, C125)
@pytest.mark.parametrize("text, phrase", [
    ("format_version: 3\nstudies: {}\n", "format_version"),
    ("format_version: 2\nstudies:\n  study-a:\n    pod_template: {spec: {}}\n", "Kubernetes-only"),
    ("format_version: 2\nstudies:\n  study-a:\n    docker_kwargs: {environment: {A: b}}\n", "launcher-owned"),
])
def test_v2_study_runtime_invalid(client, client_site, text, phrase):
    client_site.local("study_runtime.yaml", text)
    with pytest.raises(ValueError, match=phrase):
        launch(client, client_site, meta(client_site, study="study-a"))


# L12 (C126)
def test_v2_docker_kwargs_unknown_to_the_sdk(client, client_site):
    client_site.local("study_runtime.yaml", "format_version: 2\nstudies:\n  study-a:\n    docker_kwargs: {shm_szie: 8g}\n")
    with pytest.raises(RuntimeError, match="not supported by the installed Docker SDK"):
        launch(client, client_site, meta(client_site, study="study-a"))


# L13 (C047, C062)
def test_no_image(client, client_site):
    job = {"job_id": "job-1", "resource_spec": {client_site.name: {"docker": {}}}}
    with pytest.raises(RuntimeError, match="no job image was specified"):
        launch(client, client_site, job)
    client_site.local("study_runtime.yaml", "format_version: 2\nstudies: {}\n")
    with pytest.raises(RuntimeError, match="container.image"):
        launch(client, client_site, meta(client_site, docker={"image": None}, study="study-a"))


# L14 (C040)
def test_workspace_unset(client_site, monkeypatch):
    monkeypatch.delenv("NVFL_DOCKER_WORKSPACE", raising=False)
    launcher = ClientDockerJobLauncher()
    with pytest.raises(ValueError, match="workspace must be set.*NVFL_DOCKER_WORKSPACE"):
        launch(launcher, client_site, meta(client_site))


# L15 (C069–C072, C074)
@pytest.mark.parametrize("url, sec, phrase", [
    ("stcp://localhost:8004", "clear", "does not match"),
    ("tcp://localhost:8004", "mtls", "does not match"),
    ("tcp://localhost:8004", "tls", "requires clear or mTLS"),
    ("http://localhost:8004", "clear", "must use shared-file, tcp, or stcp"),
    ("shared-file://lustre/not-placeholder", None, "invalid shared-file parent URL"),
])
def test_bad_parent_url(client, client_site, url, sec, phrase):
    extra = {"parent_url": ("-p", url)}
    if sec is not None:
        extra["parent_conn_sec"] = ("--parent_conn_sec", sec)
    args = client_site.job_args("job-1", **extra)
    with pytest.raises(ValueError, match=phrase):
        launch(client, client_site, meta(client_site), job_args=args)


def test_malformed_parent_url_entry(client, client_site):
    args = client_site.job_args("job-1", parent_url=("-p",))
    with pytest.raises(ValueError, match="malformed parent_url"):
        launch(client, client_site, meta(client_site), job_args=args)


# L16
def test_shared_file_dir_under_workspace_mount(client, client_site):
    url = "shared-file://0/var/tmp/nvflare/workspace/cellnet/lst_1?poll_interval=0.05"
    args = client_site.job_args("job-1", parent_url=("-p", url))
    with pytest.raises(ValueError, match="overlaps the container workspace mount"):
        launch(client, client_site, meta(client_site), job_args=args)


# L17 (C088)
def test_secret_env_source_unset(client, client_site, monkeypatch):
    monkeypatch.delenv("NVFL_STUDY_A_MISSING", raising=False)
    client_site.local(
        "study_runtime.yaml",
        "format_version: 2\nstudies:\n  study-a:\n    secret_env:\n"
        "      DB_PASSWORD: {source: NVFL_STUDY_A_MISSING, key: password}\n",
    )
    with pytest.raises(RuntimeError, match="NVFL_STUDY_A_MISSING"):
        launch(client, client_site, meta(client_site, study="study-a"))


# L17b: with a workspace object the parent's job-id rule runs first.
def test_job_id_rejected_by_workspace_object(client, client_site):
    job = meta(client_site, job_id="../other")
    with pytest.raises(ValueError, match="invalid job_id"):
        launch(client, client_site, job, job_args=client_site.job_args("../other"))


# L18 (C076)
@pytest.mark.parametrize("job_id, phrase", [
    ("../other", "single workspace child"),
    ("a/b", "single workspace child"),
    ("startup", "reserved workspace name"),
    ("local", "reserved workspace name"),
])
def test_job_workspace_path_invalid(client, client_site, job_id, phrase):
    job = meta(client_site, job_id=job_id)
    with pytest.raises(RuntimeError, match=phrase):
        launch(client, client_site, job, job_args=client_site.job_args(job_id), workspace_object=False)


def test_job_folder_symlink_refused(client, client_site):
    (client_site.root / "elsewhere").mkdir()
    (client_site.root / "job-link").symlink_to(client_site.root / "elsewhere")
    with pytest.raises(RuntimeError, match="must not be a symlink"):
        launch(client, client_site, meta(client_site, job_id="job-link"), job_args=client_site.job_args("job-link"))


# L19
def test_v1_study_data_unparsable(client, client_site):
    client_site.local("study_data.yaml", "study-a: [unclosed\n")
    with pytest.raises(ValueError, match="Could not parse study data file"):
        launch(client, client_site, meta(client_site, study="study-a"))


# L20: berth's counterpart (native part missing) is in test_native_hidden.py.


# L21 (C045)
def test_engine_unreachable(client_site, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{client_site.root}/no-docker.sock")
    launcher = ClientDockerJobLauncher(workspace=str(client_site.root))
    client_site.job("job-1")
    with pytest.raises(RuntimeError, match="cannot connect to Docker daemon"):
        launch(launcher, client_site, meta(client_site))


# L22 (C046)
def test_network_missing(engine, client_site, stub_image):
    network = "berth-pytest-no-such-network"
    launcher = ClientDockerJobLauncher(workspace=str(client_site.root), network=network)
    client_site.job("job-1")
    with pytest.raises(RuntimeError, match=f"Docker network '{network}' does not exist"):
        launch(launcher, client_site, meta(client_site, docker={"image": stub_image}))


# L24 (C059): berth never pulls unless the site allows it.
def test_image_not_found(engine, client_site, docker_objects):
    network = docker_objects.network()
    docker_objects.site(client_site.name)
    launcher = ClientDockerJobLauncher(workspace=str(client_site.root), network=network)
    client_site.job("job-1")
    with pytest.raises(RuntimeError, match=re.escape(f"image '{IMAGE}' not found for job job-1")):
        launch(launcher, client_site, meta(client_site))


# L25: the engine refuses the create body.
def test_engine_refuses_create(engine, client_site, stub_image, docker_objects):
    network = docker_objects.network()
    docker_objects.site(client_site.name)
    launcher = ClientDockerJobLauncher(
        workspace=str(client_site.root), network=network, default_job_container_kwargs={"mem_limit": "1k"}
    )
    client_site.job("job-1")
    with pytest.raises(RuntimeError, match="error creating container for job job-1"):
        launch(launcher, client_site, meta(client_site, docker={"image": stub_image}))


def test_errors_carry_berths_hint(engine, client_site, stub_image):
    launcher = ServerDockerJobLauncher(workspace=str(client_site.root), network="berth-pytest-no-such-network")
    client_site.job("job-1")
    with pytest.raises(RuntimeError, match="hint: docker network create berth-pytest-no-such-network"):
        launch(launcher, client_site, meta(client_site, docker={"image": stub_image}))
