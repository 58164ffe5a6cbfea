"""verl plug-in (verl >= 0.9.1, < 0.10): HICRA credit inside verl's own trainers, no fork.

Pieces (each imported only when used; `import hicra.integrations.verl` does not import verl):

* `hicra.integrations.verl.plugin`: import it in every verl process (``VERL_USE_EXTERNAL_MODULES``)
  and verl's v1 trainers (sync, colocate_async, separate_async) become their HICRA subclasses.
  They behave exactly like verl's until the config holds a ``hicra`` section
  (``+hicra.credit_mode=hicra +hicra.alpha=0.2``).
* `hicra.integrations.verl.trainer`: the subclasses: after verl computes GRPO advantages they
  fetch the response token ids, build the planning mask and write HICRA advantages back.
* `hicra.integrations.verl.credit`: the verl-free step itself, on a verl `DataProto` batch.
* `hicra.integrations.verl.reward.compute_score`: verl's custom reward function, backed by
  hicra's math reward (last \\boxed{} + math-verify with a thread-safe deadline).
* `hicra.integrations.verl.convert`: hicra/public math datasets -> verl's RL parquet schema.

docs/verl.md has the commands and says what was run.
"""
