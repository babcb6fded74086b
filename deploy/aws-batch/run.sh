#!/usr/bin/env bash
# A tickbench run on AWS Batch (Fargate): producer workers and sinks as array jobs (each child
# numbered by AWS_BATCH_JOB_ARRAY_INDEX and _SIZE, which `--worker auto` and `--instance auto`
# read), then a merge job that depends on both and merges their folders from S3.
#
# usage: deploy/aws-batch/run.sh RUN_ID [START_DELAY]   (default delay: 3m)
#   once: aws batch register-job-definition --cli-input-json file://deploy/aws-batch/job-definition.json
# The job queue `tickbench` and the roles named in job-definition.json are yours to create; the
# scenario is the image's /scenarios/msk-iam.toml (MSK_BOOTSTRAP and TICKBENCH_BUCKET in the job
# definition's environment).
set -euo pipefail
cd "$(dirname "$0")"
run=${1:?usage: run.sh RUN_ID [START_DELAY]}
delay=${2:-3m}
bucket=$(python3 -c 'import json; e = json.load(open("job-definition.json"))["containerProperties"]["environment"]; print(next(v["value"] for v in e if v["name"] == "TICKBENCH_BUCKET"))')
results_to="s3://$bucket/tickbench-results/$run/"
# Every child gets the same start: this moment plus the delay they need to be placed and up.
env_json="[{\"name\":\"TICKBENCH_START_AT\",\"value\":\"$(date -u +%FT%TZ)+$delay\"},{\"name\":\"TICKBENCH_RESULTS_TO\",\"value\":\"$results_to\"}]"
submit() { # FILE [extra arguments]: prints the job id
  local file=$1
  shift
  python3 - "$file" "$env_json" <<'PY' >"$file.submitted"
import json, sys
job = json.load(open(sys.argv[1]))
job["containerOverrides"]["environment"] = json.loads(sys.argv[2])
job["containerOverrides"]["command"] = [c.replace("RESULTS_TO", json.loads(sys.argv[2])[1]["value"]) for c in job["containerOverrides"]["command"]]
print(json.dumps(job))
PY
  aws batch submit-job --cli-input-json "file://$file.submitted" "$@" --query jobId --output text
}
producers=$(submit submit-producers.json)
sinks=$(submit submit-sinks.json)
merge=$(submit submit-merge.json --depends-on "jobId=$producers" "jobId=$sinks")
rm -f ./*.submitted
echo "producers $producers, sinks $sinks, merge $merge; results in $results_to"
