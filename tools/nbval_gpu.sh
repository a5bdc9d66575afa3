#!/usr/bin/env bash
# Run every lesson and solution notebook under nbval twice on a machine with an NVIDIA GPU: once with the GPU
# visible, once hidden (CUDA_VISIBLE_DEVICES=). A GPU must never break a lesson, and the machine's own PyTorch
# and CPU must give the same results the stored outputs show (or outputs tagged as not compared).
#
# Usage: tools/nbval_gpu.sh WHEELDIR [OUTDIR]
#   WHEELDIR: wheels of the Jupyter/nbval stack for this machine's Python, for a machine that already has torch
#             and torchvision but no Jupyter (the list, and the line that downloads it, are in nbval-stack.txt
#             of the course's shared files; add `coverage`, which nbval imports). They install into a
#             separate folder, never over the machine's torch.
#   OUTDIR:   where visible.log, hidden.log and machine.txt go (default: nbval-gpu/).
set -u
wheels=${1:?usage: tools/nbval_gpu.sh WHEELDIR [OUTDIR]}
out=${2:-nbval-gpu}
site=${SITE:-/tmp/nbval-site}
mkdir -p "$out"
"${PYTHON:-python3}" -m pip install -q --no-index --no-deps --target "$site" "$wheels"/*.whl > "$out/install.log" 2>&1 \
    || { echo "installing the wheels of $wheels failed: see $out/install.log" >&2; exit 2; }
export PYTHONPATH="$PWD:$site" PATH="$site/bin:$PATH"
{
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    "${PYTHON:-python3}" -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.cuda.is_available())"
    lscpu 2>/dev/null | grep -m1 'Model name'
} > "$out/machine.txt"
run() {  # run NAME [env assignments]: 8 notebooks at a time, each whole in one worker (--dist loadfile)
    local name=$1; shift
    local start=$(date +%s)
    env "$@" "${PYTHON:-python3}" -m pytest notebooks solutions -n 8 --dist loadfile -p no:cacheprovider -q > "$out/$name.log" 2>&1
    echo "exit $? after $(( $(date +%s) - start )) s" >> "$out/$name.log"
}
run visible
run hidden CUDA_VISIBLE_DEVICES=
cat "$out/machine.txt"
for name in visible hidden; do echo "GPU $name: $(tail -n 2 "$out/$name.log" | tr '\n' ' ')"; done
