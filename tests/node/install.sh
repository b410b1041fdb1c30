#!/usr/bin/env bash
# Installs the Node.js services' packages (pinned in package.json and package-lock.json)
# from the npm registry, once: reused while the lock file is unchanged.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.ldai-otel-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
