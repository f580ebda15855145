#!/usr/bin/env bash
# Rebuild caffe_pb2.py from caffe.proto with the protoc bundled in grpcio-tools.
# Usage: torchcaffe/proto/generate.sh   (PYTHON overrides the interpreter)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
cd "$here"
"$PYTHON" -m grpc_tools.protoc -I. --python_out=. caffe.proto
echo "wrote $here/caffe_pb2.py"
