#!/bin/sh
# embed.sh OUT.cc FILE... : writes a C++ table of the migration files.
# Each file is named NNNN_name.sql; NNNN is its version.
out="$1"; shift
{
  echo '// Generated from storage/migrations/*/*.sql by embed.sh. Do not edit.'
  echo '#include "storage/migrations.h"'
  echo 'namespace tasker::storage {'
  for backend in sqlite postgres; do
    echo "const std::vector<Migration>& ${backend}_migrations() {"
    echo '  static const std::vector<Migration> kMigrations = {'
    for f in "$@"; do
      case "$f" in */$backend/*) ;; *) continue ;; esac
      base=$(basename "$f" .sql)
      version=$(echo "$base" | sed 's/_.*//' | sed 's/^0*//')
      name=$(echo "$base" | sed 's/^[0-9]*_//')
      printf '    {%s, "%s", R"TASKERSQL(' "$version" "$name"
      cat "$f"
      echo ')TASKERSQL"},'
    done
    echo '  };'
    echo '  return kMigrations;'
    echo '}'
  done
  echo '}  // namespace tasker::storage'
} > "$out"
