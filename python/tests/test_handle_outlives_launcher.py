"""A job handle that outlives its launcher holds the last reference to the launcher's
runtime. Dropping it, with the GIL held, must not wait for a runtime thread that is
itself waiting for the GIL to log (the engine client logs right after each answer): the
process goes on and exits."""

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

CHILD = """
import faulthandler, logging, sys
faulthandler.enable()
faulthandler.dump_traceback_later(100, exit=True)
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from conftest import Site
from berth.nvflare import ClientDockerJobLauncher
root, name, network, image, rounds = sys.argv[2:7]
# Every record reaches Python, so the runtime's threads ask for the GIL often.
logging.basicConfig(level=logging.DEBUG, stream=open("/dev/null", "w"))
site = Site(Path(root), name, "client")
for i in range(int(rounds)):
    job_id = f"job-outlives-{i}"
    site.job(job_id, script="sleep 60\\nexit 0\\n")
    launcher = ClientDockerJobLauncher(workspace=root, network=network, timeout=60)
    meta = {"job_id": job_id, "launcher_spec": {name: {"docker": {"image": image}}}}
    handle = launcher.launch_job(meta, site.context(job_id))
    del launcher
    handle.terminate()
    print("rc", int(handle.poll()), flush=True)
    del handle
print("done", flush=True)
"""


def test_a_handle_dropped_after_its_launcher_does_not_hang(engine, client_site, stub_image, docker_objects):
    site = client_site
    network = docker_objects.network()
    docker_objects.site(site.name)
    rounds = 8
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(TESTS), str(site.root), site.name, network, stub_image, str(rounds)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-4000:]}"
    assert r.stdout.count("rc 9") == rounds, r.stdout
    assert "done" in r.stdout, r.stdout
