#!/usr/bin/env bash
# govulncheck over every module of the workspace, when its vulnerability database is
# reachable. Where it is not (machines without internet), it says plainly that the check was
# SKIPPED and exits 0: an unreachable database is not a finding, and CI must not fail on it.
# Known vulnerabilities reachable from sluice's code fail it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools}
VERSION=v1.9.0
BIN=${GOVULNCHECK_BIN:-$TOOLS_DIR/govulncheck-$VERSION/bin/govulncheck}
DB=${GOVULNDB:-https://vuln.go.dev}

if ! curl -sf -m 10 -o /dev/null "$DB/index/db.json.gz" && ! curl -sf -m 10 -o /dev/null "$DB/index/db.json"; then
  echo "govulncheck SKIPPED: the vulnerability database $DB is unreachable from this machine; no vulnerability check was made"
  exit 0
fi
if [ ! -x "$BIN" ]; then
  if ! GOWORK=off GOBIN=$(dirname "$BIN") go install "golang.org/x/vuln/cmd/govulncheck@$VERSION" >/dev/null 2>&1; then
    echo "govulncheck SKIPPED: could not install golang.org/x/vuln/cmd/govulncheck@$VERSION; no vulnerability check was made"
    exit 0
  fi
fi
cd "$ROOT"
status=0
for dir in $(go list -m -f '{{.Dir}}'); do
  echo "govulncheck ${dir#"$ROOT"/}"
  (cd "$dir" && "$BIN" -db "$DB" ./...) || status=1
done
exit $status
