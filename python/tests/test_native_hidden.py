"""A job container builds the launcher component from the site's resources.json; its
image may lack berth's native part. Simulated in a subprocess where berth._native cannot
be imported."""

import json
import subprocess
import sys
import textwrap

HIDE_NATIVE = textwrap.dedent(
    """
    import importlib.abc, sys

    class _HideNative(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "berth._native":
                raise ImportError("berth._native hidden for this test")
            return None

    sys.meta_path.insert(0, _HideNative())
    """
)


def run_hidden(body: str) -> subprocess.CompletedProcess:
    code = HIDE_NATIVE + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_and_construction_without_native_part():
    r = run_hidden(
        """
        import berth
        from berth.nvflare import ClientDockerJobLauncher, ServerDockerJobLauncher
        assert not berth.native_available()
        c = ClientDockerJobLauncher(workspace="/w", network="n", default_job_env={"A": "1"})
        s = ServerDockerJobLauncher(workspace="/w", timeout=60, pull_missing_images=True)
        print("ok", c.network, s.timeout)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ok", "n", "60"]


def test_nvflare_component_builder_loads_resources_json_without_native_part():
    resources = {
        "format_version": 2,
        "components": [
            {
                "id": "docker_launcher",
                "path": "berth.nvflare.ClientDockerJobLauncher",
                "args": {"workspace": "/host/ws", "network": "nvflare-network", "default_job_env": {"X": "1"}},
            }
        ],
    }
    r = run_hidden(
        f"""
        import json
        from nvflare.fuel.utils.component_builder import ComponentBuilder

        class Builder(ComponentBuilder):
            def get_module_scanner(self):
                return None

        config = json.loads({json.dumps(json.dumps(resources))})
        component = Builder().build_component(config["components"][0])
        print(type(component).__module__, type(component).__name__, component.workspace)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["berth.nvflare", "ClientDockerJobLauncher", "/host/ws"]


def test_launch_without_native_part_is_a_runtime_error():
    r = run_hidden(
        """
        from nvflare.apis.fl_context import FLContext
        from berth.nvflare import ClientDockerJobLauncher
        try:
            ClientDockerJobLauncher(workspace="/w").launch_job({"job_id": "j"}, FLContext())
        except RuntimeError as e:
            print("RuntimeError", "berth._native" in str(e))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["RuntimeError", "True"]
