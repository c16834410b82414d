#!/usr/bin/env bash
# Bazel's workspace status command: the git commit `tasker version` prints.
#   bazel build --workspace_status_command=services/cli/workspace_status.sh //services/cli:tasker
# (.bazelrc may set it for every build; the CLI's build_info is the only
# stamped target, so a new commit rebuilds one small file.)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null) || exit 0
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
echo "STABLE_GIT_COMMIT $commit"
