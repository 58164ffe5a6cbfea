#!/usr/bin/env bash
# HICRA on verl 0.9.x, one node (or the head node of a Ray cluster: see run_hicra_multinode.sh).
#
#   bash examples/verl/run_hicra_grpo.sh                     # defaults below
#   MODEL=Qwen/Qwen3-4B-Base NGPUS=8 ALPHA=0.2 bash examples/verl/run_hicra_grpo.sh trainer.total_epochs=1
#
# Extra arguments are passed to verl as Hydra overrides. ALPHA=0 (or CREDIT_MODE=grpo) is plain
# GRPO with the same metrics. Every override below was checked against verl 0.9.1's own config
# by tests/integrations/verl/test_launch_overrides.py; the script itself needs GPUs and was not
# run in hicra's CI (docs/verl.md says what was).
set -euo pipefail

MODEL=${MODEL:-Qwen/Qwen2.5-7B}
TRAIN_FILES=${TRAIN_FILES:-$HOME/data/hicra/train.parquet}   # from: python -m hicra.integrations.verl.convert
VAL_FILES=${VAL_FILES:-$HOME/data/hicra/val.parquet}
NNODES=${NNODES:-1}
NGPUS=${NGPUS:-8}
ALPHA=${ALPHA:-0.2}
CREDIT_MODE=${CREDIT_MODE:-hicra}
DETECTOR=${DETECTOR:-${LEXICON:-null}}  # a detector name or lexicon file; null = the published 249 Strategic Grams
EXPERIMENT=${EXPERIMENT:-${CREDIT_MODE}_alpha${ALPHA}}
REWARD_FILE=$(python -c "import hicra.integrations.verl.reward as m; print(m.__file__)")

# Every verl process (driver, TaskRunner, workers) must import the plug-in: verl reads this
# variable at `import verl`; Ray workers started by this driver inherit it.
export VERL_USE_EXTERNAL_MODULES=hicra.integrations.verl.plugin${VERL_USE_EXTERNAL_MODULES:+,$VERL_USE_EXTERNAL_MODULES}

python -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    algorithm.norm_adv_by_std_in_grpo=true \
    algorithm.use_kl_in_reward=false \
    data.train_files="$TRAIN_FILES" \
    data.val_files="$VAL_FILES" \
    data.train_batch_size=512 \
    data.max_prompt_length=1024 \
    data.max_response_length=16384 \
    data.filter_overlong_prompts=true \
    data.truncation=error \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.model.use_remove_padding=true \
    actor_rollout_ref.model.enable_gradient_checkpointing=true \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.ppo_mini_batch_size=128 \
    actor_rollout_ref.actor.use_dynamic_bsz=true \
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=24576 \
    actor_rollout_ref.actor.clip_ratio_low=0.2 \
    actor_rollout_ref.actor.clip_ratio_high=0.28 \
    actor_rollout_ref.actor.loss_agg_mode=token-mean \
    actor_rollout_ref.actor.use_kl_loss=false \
    actor_rollout_ref.actor.entropy_coeff=0 \
    actor_rollout_ref.actor.fsdp_config.param_offload=false \
    actor_rollout_ref.actor.fsdp_config.optimizer_offload=false \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n=8 \
    actor_rollout_ref.rollout.temperature=1.0 \
    actor_rollout_ref.rollout.tensor_model_parallel_size=2 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.7 \
    actor_rollout_ref.rollout.val_kwargs.n=4 \
    actor_rollout_ref.rollout.val_kwargs.temperature=0.6 \
    actor_rollout_ref.rollout.val_kwargs.do_sample=true \
    reward.custom_reward_function.path="$REWARD_FILE" \
    reward.custom_reward_function.name=compute_score \
    trainer.use_v1=true \
    trainer.v1.trainer_mode=sync \
    trainer.nnodes="$NNODES" \
    trainer.n_gpus_per_node="$NGPUS" \
    trainer.logger='["console","tensorboard"]' \
    trainer.project_name=hicra \
    trainer.experiment_name="$EXPERIMENT" \
    trainer.rollout_data_dir="checkpoints/hicra/$EXPERIMENT/rollouts" \
    trainer.save_freq=50 \
    trainer.test_freq=10 \
    trainer.total_epochs=10 \
    +hicra.credit_mode="$CREDIT_MODE" \
    +hicra.alpha="$ALPHA" \
    +hicra.detector="$DETECTOR" \
    +hicra.log_metrics=true \
    "$@"
