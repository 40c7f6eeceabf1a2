"""Experiments the chapters run: small functions that train or measure and return a DataFrame.

One module per topic (``memory_tasks.py``: copy task and adding problem vs delay;
``param_budget.py``: parameter counts and equal-budget sizes; ``char_lm.py``: char-level LM
comparisons; ``unit_probes.py``: what single LSTM units track; ``recurrent_timing.py``: forward +
backward time of recurrent layers). Sizes come from the caller, usually through
``seqlab.device.by_profile``.
"""
