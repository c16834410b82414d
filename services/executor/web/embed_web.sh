#!/bin/sh
# embed_web.sh OUT.cc FILE...: the web UI's files as C++ constants (web_ui.cc
# serves them). index.html is served at /, every other file at /ui/NAME.
set -eu
out=$1
shift
{
  echo '// Generated from services/executor/web/ by embed_web.sh. Do not edit.'
  echo 'namespace tasker::services::web {'
  echo 'struct Asset { const char* path; const char* content_type; const char* data; unsigned long size; };'
  i=0
  for f in "$@"; do
    if grep -q ')TASKERWEB"' "$f"; then
      echo "embed_web.sh: $f contains the raw-string delimiter )TASKERWEB\"" >&2
      exit 1
    fi
    printf 'static const char kAsset%d[] = R"TASKERWEB(' "$i"
    cat "$f"
    echo ')TASKERWEB";'
    i=$((i + 1))
  done
  echo 'extern const Asset kAssets[];'
  echo 'extern const int kAssetCount;'
  echo 'const Asset kAssets[] = {'
  i=0
  for f in "$@"; do
    name=$(basename "$f")
    case "$name" in
      index.html) path=/ ;;
      *) path=/ui/$name ;;
    esac
    case "$name" in
      *.html) type='text/html; charset=utf-8' ;;
      *.css) type='text/css; charset=utf-8' ;;
      *.js) type='text/javascript; charset=utf-8' ;;
      *.svg) type='image/svg+xml' ;;
      *) type='application/octet-stream' ;;
    esac
    echo "    {\"$path\", \"$type\", kAsset$i, sizeof(kAsset$i) - 1},"
    i=$((i + 1))
  done
  echo '};'
  echo "const int kAssetCount = $i;"
  echo '}  // namespace tasker::services::web'
} > "$out"
