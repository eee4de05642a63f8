"""scripts/with-moto.sh, the S3 leg's wrapper: the project stores files on S3 (moto) under it,
the readiness probe's storage check passes there, and moto is gone once the command ends."""

from __future__ import annotations

import json
import socket
import subprocess
from urllib.parse import urlsplit

from telemed.tests.processes import BASE_DIR, PYTHON, project_env

WRAPPER = BASE_DIR / "scripts" / "with-moto.sh"

CHECK = """
import json
import os

import boto3
import django

django.setup()
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from telemed.readiness import CHECKS

name = default_storage.save("wrapper-check/hello.txt", ContentFile(b"stored through S3"))
with default_storage.open(name, "rb") as stored:
    assert stored.read() == b"stored through S3"
# What the bucket itself holds, read around the project.
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name=os.environ["S3_REGION"])
body = s3.get_object(Bucket=os.environ["S3_BUCKET"], Key=name)["Body"].read()
report = {
    "backend": type(default_storage._wrapped).__name__,
    "bucket_holds": body.decode(),
    "readiness": CHECKS["storage"](),
    "endpoint": os.environ["S3_ENDPOINT_URL"],
}
print(json.dumps(report))
"""


def run_wrapped(tmp_path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(WRAPPER), *command],
        cwd=BASE_DIR,
        env=project_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def refuses_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return False
    except OSError:
        return True


def test_under_the_wrapper_files_go_to_the_moto_bucket_and_moto_stops_afterwards(tmp_path):
    result = run_wrapped(tmp_path, PYTHON, "-c", CHECK)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["backend"] == "S3Storage"
    assert report["bucket_holds"] == "stored through S3"
    # /readyz's storage check passes against the same bucket.
    assert report["readiness"] == "S3Storage"
    assert report["endpoint"].startswith("http://127.0.0.1:")
    assert refuses_connections(report["endpoint"])


def test_the_wrapper_returns_the_commands_exit_status(tmp_path):
    result = run_wrapped(tmp_path, "sh", "-c", "exit 3")

    assert result.returncode == 3
    assert "S3 storage: bucket" in result.stderr
