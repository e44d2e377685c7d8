"""Runs inside a container on the federation's network: waits for the client to join,
submits the job with NVFlare's admin API, follows it to its end and prints its status.

usage: python submit_job.py ADMIN_KIT USERNAME CLIENT_NAME JOB_FOLDER TIMEOUT_SECONDS
Exit status 0 only when the job ends FINISHED:COMPLETED.
"""

import sys
import time

from nvflare.fuel.flare_api.flare_api import new_secure_session


def main() -> int:
    kit, username, client, job_folder, timeout = sys.argv[1:6]
    deadline = time.monotonic() + float(timeout)
    session = None
    while session is None:
        try:
            session = new_secure_session(username, kit, timeout=10)
        except Exception as e:  # the server may still be starting
            if time.monotonic() > deadline:
                print(f"cannot log in to the server: {e}", flush=True)
                return 1
            time.sleep(2)
    try:
        while True:
            info = session.get_system_info()
            names = [c.name for c in info.client_info]
            if client in names:
                break
            if time.monotonic() > deadline:
                print(f"client {client} did not join; clients: {names}", flush=True)
                return 1
            time.sleep(1)
        print(f"client {client} joined", flush=True)
        job_id = session.submit_job(job_folder)
        print(f"submitted job {job_id}", flush=True)
        status = None
        while time.monotonic() < deadline:
            meta = session.get_job_meta(job_id)
            status = meta.get("status")
            if status and status.startswith("FINISHED"):
                break
            time.sleep(1)
        print(f"job {job_id} status {status}", flush=True)
        print(f"JOB_ID={job_id}", flush=True)
        return 0 if status == "FINISHED:COMPLETED" else 1
    finally:
        session.close()


if __name__ == "__main__":
    sys.exit(main())
