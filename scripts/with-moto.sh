#!/usr/bin/env bash
# Run a command with the default storage on S3: a moto server (moto[server], requirements-dev)
# on a free port of 127.0.0.1, with a fresh bucket, for as long as the command runs.
#
#   scripts/with-moto.sh .venv/bin/pytest records
#
# Exports S3_BUCKET, S3_ENDPOINT_URL, S3_REGION and dummy AWS credentials (telemed/settings.py
# then stores files through django-storages' S3Storage); moto is stopped however the command ends.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
  echo "usage: scripts/with-moto.sh <command> [args...]" >&2
  exit 2
fi

BIN=.venv/bin
STARTUP_SECONDS=${MOTO_STARTUP_SECONDS:-30}

port=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp -t telemed-moto.XXXXXX)
"$BIN/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!

stop_moto() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap stop_moto EXIT
# Without these a Ctrl-C or a kill would end the script without running the EXIT trap.
trap 'exit 130' INT
trap 'exit 143' TERM

export S3_ENDPOINT_URL="http://127.0.0.1:${port}"
export S3_REGION=us-east-1
export S3_BUCKET="telemed-test-${port}"
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_DEFAULT_REGION=us-east-1

# Wait (bounded) until moto answers, then make the bucket.
if ! "$BIN/python" - "$STARTUP_SECONDS" "$moto_pid" <<'PY'
import os
import sys
import time

import boto3
from botocore.config import Config

deadline = time.monotonic() + float(sys.argv[1])
moto_pid = int(sys.argv[2])
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["S3_ENDPOINT_URL"],
    region_name=os.environ["S3_REGION"],
    config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
)
while True:
    try:
        s3.list_buckets()
        break
    except Exception as exc:
        try:
            os.kill(moto_pid, 0)
        except ProcessLookupError:
            sys.exit("moto_server exited before answering")
        if time.monotonic() > deadline:
            sys.exit(f"moto_server did not answer within {sys.argv[1]} s: {exc}")
        time.sleep(0.2)
s3.create_bucket(Bucket=os.environ["S3_BUCKET"])
PY
then
  echo "scripts/with-moto.sh: moto did not start; its output:" >&2
  cat "$log" >&2
  exit 1
fi
echo "S3 storage: bucket ${S3_BUCKET} on moto at ${S3_ENDPOINT_URL}" >&2

set +e
"$@"
status=$?
set -e
exit "$status"
