"""hicra: hierarchy-aware credit assignment for RL on LLM reasoning.

Planning tokens (inside a Strategic Gram such as "let's try a different approach") and execution
tokens (everything else) are told apart; HICRA boosts the advantage on the former:

    A'_{i,t} = A_{i,t} + alpha * |A_{i,t}|   if token t of response i is a planning token
    A'_{i,t} = A_{i,t}                       otherwise

`import hicra` needs only torch, numpy and pyahocorasick. Submodules that need more (the
trainer, TRL/verl adapters, reports, mining) are imported only when used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
