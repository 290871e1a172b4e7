#!/usr/bin/env bash
# Packs ONNX Runtime with its CUDA provider for the GPU machine of the device tool (no network
# there), into .device-cuda/ at the project root (ignored by git), under its 64 MiB limit:
# - libonnxruntime.so.1 of npm onnxruntime-node@1.29.0 (built with CUDA's provider bridge);
# - libonnxruntime_providers_cuda.so and _shared.so of the same release, built for CUDA 13,
#   from npm com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (onnxruntime-node's own
#   installer fetches them from NuGet, which is not reachable here). Its cubins for GPU
#   architectures other than sm_90 (the H100's) are zeroed by prune_fatbin.py: the runtime
#   loads the sm_90 ones, and the zeros compress away (166 MB of cubins: 38 MB carried).
# The CUDA 13 runtime, cuBLAS, cuRAND and cuDNN 9 come from the machine's own PyTorch and CUDA.
# Then on the machine: bash bench/device/setup_cuda.sh (carry .device-cuda), see
# docs/model-contract.md's "Execution providers".
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent onnxruntime-node@1.29.0 com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 >/dev/null
mkdir core gpu
tar xzf onnxruntime-node-1.29.0.tgz -C core
tar xzf com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz -C gpu
plugins=gpu/package/Plugins/Linux/x64
python3 "$root/bench/device/prune_fatbin.py" "$plugins/libonnxruntime_providers_cuda.so" 90
mkdir -p "$root/.device-cuda"
xz -T0 -6 -c core/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 \
  >"$root/.device-cuda/libonnxruntime.so.1.xz"
xz -T0 -6 -c "$plugins/libonnxruntime_providers_cuda.so" \
  >"$root/.device-cuda/libonnxruntime_providers_cuda.so.xz"
cp "$plugins/libonnxruntime_providers_shared.so" "$root/.device-cuda/"
du -sh "$root/.device-cuda"
