#!/usr/bin/env bash
# HICRA on verl across several nodes: start a Ray cluster with the plug-in in every node's
# environment, then launch run_hicra_grpo.sh on the head node.
#
#   # on the head node (NODE_RANK=0) and on each worker node (NODE_RANK>0), same HEAD_IP:
#   HEAD_IP=10.0.0.1 NNODES=4 NODE_RANK=$RANK bash examples/verl/run_hicra_multinode.sh [hydra overrides]
#
# With Slurm: `srun --nodes=$NNODES --ntasks-per-node=1 bash -c 'NODE_RANK=$SLURM_NODEID ...'`.
# Needs GPUs; not run in hicra's CI (docs/verl.md).
set -euo pipefail

HEAD_IP=${HEAD_IP:?set HEAD_IP to the head node address}
NNODES=${NNODES:?set NNODES}
NODE_RANK=${NODE_RANK:?set NODE_RANK (0 on the head node)}
NGPUS=${NGPUS:-8}
RAY_PORT=${RAY_PORT:-6379}
HERE=$(cd "$(dirname "$0")" && pwd)

# Ray workers inherit the environment of the `ray start` that spawned their raylet, so the
# plug-in variable must be set here, on every node, before Ray starts.
export VERL_USE_EXTERNAL_MODULES=hicra.integrations.verl.plugin${VERL_USE_EXTERNAL_MODULES:+,$VERL_USE_EXTERNAL_MODULES}

if [[ "$NODE_RANK" == 0 ]]; then
    ray start --head --port="$RAY_PORT" --num-gpus="$NGPUS"
    # Wait until every node has joined.
    until [[ $(python -c "import ray; ray.init(address='auto', logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))") -ge "$NNODES" ]]; do
        sleep 5
    done
    NNODES="$NNODES" NGPUS="$NGPUS" bash "$HERE/run_hicra_grpo.sh" \
        +ray_kwargs.ray_init.address=auto \
        "$@"
    ray stop
else
    ray start --address="$HEAD_IP:$RAY_PORT" --num-gpus="$NGPUS" --block
fi
