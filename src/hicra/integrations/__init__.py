"""Thin adapters that plug hicra's credit assignment and metrics into training engines.

- ``hicra.integrations.trl``: ``HICRATrainer``, a subclass of TRL's ``GRPOTrainer`` (TRL 1.16.x).
- ``hicra.integrations.verl``: a verl trainer hook, reward function and dataset converter.

Nothing is imported here: each engine is an optional extra and loads only when its adapter is used.
"""
