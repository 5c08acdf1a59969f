#!/usr/bin/env bash
# Installs grader, prepares the data, and grades the bundled sample submissions of
# every assignment in rubrics/ into reports/<assignment>/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export GRADER_DATA=${GRADER_DATA:-$PWD/data}
.venv/bin/grader setup --data "$GRADER_DATA" || true
status=0
for rubric in rubrics/*.yaml; do
  id=$(basename "$rubric" .yaml)
  echo "== $id"
  .venv/bin/grader grade "$rubric" "submissions/$id" --out "reports/$id" --data "$GRADER_DATA" --workers 2 || status=$?
done
echo "open reports/<assignment>/index.html"
exit $status
