#!/usr/bin/env bash
# Runs LocalStack without Docker on 127.0.0.1:${LOCALSTACK_PORT:-4566} (S3, SQS, EventBridge, CloudFormation).
# The test fixture (localdev/localstack.py) passes a free port and its own state directory.
# localstack-core runs without Docker only on Python 3.13; it gets its own venv (.venv-localstack).
# DynamoDB and Lambda do not work offline in this mode: the default local path stays moto's server.
# With Docker available, run the normal image instead: docker run -p 127.0.0.1:4566:4566 localstack/localstack
set -euo pipefail
cd "$(dirname "$0")/.."
find_py313() {
  for c in "${LOCALSTACK_PYTHON:-}" python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/bin/python3.13; do
    [ -n "$c" ] && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$c"; return; }
  done
  echo "localstack: Python 3.13 is required (set LOCALSTACK_PYTHON)" >&2; exit 1
}
PY=$(find_py313)
VENV=.venv-localstack
# Built once (~3 minutes), reused after: the marker is written only when the install completed.
if [ ! -f "$VENV/.complete" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q -r localstack/requirements.txt
  touch "$VENV/.complete"
fi
STATE_DIR=${LOCALSTACK_STATE_DIR:-$PWD/var/localstack}
mkdir -p "$STATE_DIR"
# GATEWAY_SERVER=hypercorn is what makes it honour GATEWAY_LISTEN; without it, it binds 0.0.0.0.
export GATEWAY_LISTEN=127.0.0.1:${LOCALSTACK_PORT:-4566} GATEWAY_SERVER=hypercorn DNS_ADDRESS=0 DISABLE_EVENTS=1 \
  SKIP_SSL_CERT_DOWNLOAD=1 S3_SKIP_SIGNATURE_VALIDATION=0 \
  SERVICES=s3,sqs,events,cloudformation,sts,iam LOCALSTACK_VOLUME_DIR="$STATE_DIR"
exec "$VENV/bin/python" -m localstack.runtime.main
