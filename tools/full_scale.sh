#!/usr/bin/env bash
# Regenerate the full-scale results files of lessons 05-08 on one GPU: every experiment at once, each in a
# few worker processes that share the card (launch-bound small models leave most of an H100 idle, so
# sharing costs little). Usage: tools/full_scale.sh OUTDIR [TIME_LIMIT_S] [EXPERIMENT ...]
# With an existing OUTDIR/<name>_full.json a run resumes it (--resume), so a second call finishes a file
# that the first stopped at its time limit. MPS lets kernels of the processes overlap where it is available.
set -u
out=${1:?usage: tools/full_scale.sh OUTDIR [TIME_LIMIT_S] [EXPERIMENT ...]}
limit=${2:-480}
shift $(( $# >= 2 ? 2 : 1 ))
mkdir -p "$out"
nvidia-cuda-mps-control -d 2>/dev/null && echo "MPS daemon started" || echo "no MPS: processes time-share the GPU"
run() {  # run NAME FILE WORKERS [extra args]
    local name=$1 file=$2 workers=$3; shift 3
    "${PYTHON:-python3}" -m fusion_course experiment "$name" --scale full --device cuda --seeds 5 --workers "$workers" \
        --threads 1 --time-limit "$limit" --resume --out "$out/$file" "$@" > "$out/${file%.json}.log" 2>&1 &
}
todo=("$@")
sel() { [ ${#todo[@]} -eq 0 ] && return 0; for t in "${todo[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
sel fusion-helps && run fusion-helps fusion_helps_full.json 2
sel f3net-ablation && run f3net-ablation f3net_ablation_full.json 3
sel mobilenet-fusion && run mobilenet-fusion mobilenet_fusion_64px_full.json 3
sel fusionnet-ablation && run fusionnet-ablation fusionnet_ablation_full.json 3
sel fusionnet-control && run fusionnet-control fusionnet_control_full.json 2
sel mobilenet-fusion-96 && run mobilenet-fusion mobilenet_fusion_96px_full.json 3 --set size=96 \
    --lr-from "$out/mobilenet_fusion_64px_full.json"
wait
nvidia-smi --query-gpu=name,memory.used --format=csv 2>/dev/null
echo "all done"
