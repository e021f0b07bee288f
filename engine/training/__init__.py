"""Training and evaluation of the grading networks on feature sets.

``datasets`` (feature-set directories, batching), ``splits`` (subject-grouped), ``metrics`` (the
papers' SRCC, MSE, rMSE, accuracy, Fisher-z), ``config`` (the papers' optimiser defaults),
``trainer``, ``evaluate`` (fixed-missing protocol, Table 1), ``workflow`` (train / evaluate a
checkpoint on a data directory), ``importers`` (RG, Fis-V, FS1000 feature releases),
``baselines`` (per-modality regressors, late fusion), ``throughput``.
"""
