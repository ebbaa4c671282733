#!/usr/bin/env bash
# Regenerate the gRPC code from candles.proto (needs grpcio-tools, a dev dependency).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. --pyi_out=. \
    api/proto/candles/v1/candles.proto
