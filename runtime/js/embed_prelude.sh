#!/bin/sh
# embed_prelude.sh OUT.cc prelude.js: the prelude as a C++ string constant.
{
  echo '// Generated from runtime/js/prelude.js. Do not edit.'
  echo 'namespace tasker::js {'
  echo 'extern const char kPreludeSource[];'
  printf 'const char kPreludeSource[] = R"TASKERJS('
  cat "$2"
  echo ')TASKERJS";'
  echo '}  // namespace tasker::js'
} > "$1"
