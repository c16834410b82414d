#!/bin/sh
# Coverage is not collected offline; this stands in for Bazel's downloaded tools.
exit 0
