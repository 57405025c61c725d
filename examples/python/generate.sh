#!/usr/bin/env bash
# Generates the Python stubs from proto/ with Debian's protoc and
# grpc_python_plugin (packages protobuf-compiler, protobuf-compiler-grpc).
# Usage: ./generate.sh [OUT_DIR]   (default: ./gen)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto="$here/../../proto"
out="${1:-$here/gen}"
mkdir -p "$out"
cd "$proto"
protoc -I . \
  --python_out="$out" \
  --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  detour/v1/*.proto google/rpc/*.proto buf/validate/validate.proto
