#!/usr/bin/env bash
# On the GPU machine, from the project root, after bench/device/pack_cuda.sh filled
# .device-cuda/ here: ONNX Runtime with its CUDA provider in /opt/ort-cuda, and
# /opt/ort-cuda/env.sh putting the machine's CUDA 13 libraries (its PyTorch's and CUDA's) on
# the library path. Then: . /opt/ort-cuda/env.sh and pass
# --library=/opt/ort-cuda/libonnxruntime.so.1 (or ORT_LIBRARY) with --ep=cuda (ORT_EP).
set -euo pipefail
mkdir -p /opt/ort-cuda
xz -dc .device-cuda/libonnxruntime.so.1.xz >/opt/ort-cuda/libonnxruntime.so.1
xz -dc .device-cuda/libonnxruntime_providers_cuda.so.xz \
  >/opt/ort-cuda/libonnxruntime_providers_cuda.so
cp .device-cuda/libonnxruntime_providers_shared.so /opt/ort-cuda/
dirs=$(find / -xdev \( -name 'libcublasLt.so.13*' -o -name 'libcudart.so.13*' \
  -o -name 'libcurand.so.10*' -o -name 'libcudnn.so.9*' \) 2>/dev/null |
  xargs -r -n1 dirname | sort -u | tr '\n' ':')
echo "export LD_LIBRARY_PATH=${dirs}\${LD_LIBRARY_PATH:-}" >/opt/ort-cuda/env.sh
echo "CUDA libraries from: $dirs"
