"""A process that exits right after a job's ``wait()`` returns, while berth still removes
the job's container in the background: the interpreter exits cleanly (no crash from
berth's threads during finalization), the container is gone and the outcome recorded."""

import subprocess
import sys
from pathlib import Path

from conftest import docker
from test_jobs import container_exists, recorded_outcome

TESTS = Path(__file__).resolve().parent

CHILD = """
import faulthandler, sys
faulthandler.enable()
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from conftest import Site
from berth.nvflare import ClientDockerJobLauncher
root, name, network, image, job_id = sys.argv[2:7]
site = Site(Path(root), name, "client")
launcher = ClientDockerJobLauncher(workspace=root, network=network, timeout=60)
meta = {"job_id": job_id, "launcher_spec": {name: {"docker": {"image": image}}}}
handle = launcher.launch_job(meta, site.context(job_id))
print("rc", int(handle.wait()), flush=True)
"""


def test_exit_right_after_wait(engine, client_site, stub_image, docker_objects):
    site = client_site
    network = docker_objects.network()
    docker_objects.site(site.name)
    for i in range(3):
        job_id = f"job-exit-now-{i}"
        site.job(job_id, script="sleep 0.2\nexit 0\n")
        r = subprocess.run(
            [sys.executable, "-c", CHILD, str(TESTS), str(site.root), site.name, network, stub_image, job_id],
            capture_output=True, text=True, timeout=300,
        )
        assert r.returncode == 0, f"run {i}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        assert "rc 0" in r.stdout, r.stdout
        assert not container_exists(f"{site.name}-{job_id}"), f"run {i}: container left behind"
        assert len(recorded_outcome(site, job_id)) == 1, f"run {i}: outcome not recorded"
