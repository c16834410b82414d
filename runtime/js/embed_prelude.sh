#!/bin/sh
# embed_prelude.sh OUT.cc prelude.js [prelude_NAME.js ...]: the prelude and its
# sections (compiled on first use, by name) as C++ string constants.
# Whole-line comments and indentation are dropped, lines kept (positions in
# stack traces stay the files' lines): the source of every script the
# runtime compiles lives in the task's heap, so in its checkpoints.
out=$1
shift
strip() { sed -e 's/^[[:space:]]*\/\/.*$//' -e 's/^[[:space:]]*//' "$1"; }
{
  echo '// Generated from runtime/js/prelude*.js by embed_prelude.sh. Do not edit.'
  echo '#include "runtime/js/natives.h"'
  echo 'namespace tasker::js {'
  printf 'const char kPreludeSource[] = R"TASKERJS('
  strip "$1"
  echo ')TASKERJS";'
  shift
  echo 'const PreludeSection kPreludeSections[] = {'
  for file in "$@"; do
    name=$(basename "$file" .js | sed 's/^prelude_//')
    printf '    {"%s", R"TASKERJS(' "$name"
    strip "$file"
    echo ')TASKERJS"},'
  done
  echo '};'
  echo "const int kPreludeSectionCount = $#;"
  echo '}  // namespace tasker::js'
} > "$out"
