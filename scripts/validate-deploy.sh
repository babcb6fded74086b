#!/usr/bin/env bash
# Validates deploy/ with other people's validators, no cluster or AWS account needed:
#   - deploy/kubernetes/: rendered by kubectl's own kustomize, then checked by kubernetes-validate
#     (the Kubernetes API's JSON schemas, strict: an unknown field fails) for Kubernetes 1.32;
#   - deploy/aws-batch/: each request body checked against botocore's model of the Batch API
#     (the AWS SDK's own parameter validator).
# usage: scripts/validate-deploy.sh   (needs kubectl and the tools venv: scripts/install-deps.sh --tests)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${TICKBENCH_PYTHON:-${TICKBENCH_TOOLS_DIR:-$PWD/.tools}/venv/bin/python}
rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
kubectl kustomize deploy/kubernetes >"$rendered"
"$py" -m kubernetes_validate --strict --quiet -k 1.32.0 "$rendered"
echo "deploy/kubernetes: $(grep -c '^kind:' "$rendered") resources valid against Kubernetes 1.32"
"$py" - <<'PY'
import json
import botocore.session
from botocore.validate import validate_parameters

batch = botocore.session.get_session().get_service_model("batch")
for op, files in [
    ("RegisterJobDefinition", ["job-definition.json"]),
    ("SubmitJob", ["submit-producers.json", "submit-sinks.json", "submit-merge.json"]),
]:
    shape = batch.operation_model(op).input_shape
    for f in files:
        validate_parameters(json.load(open("deploy/aws-batch/" + f)), shape)
        print(f"deploy/aws-batch/{f}: a valid {op} request")
PY
