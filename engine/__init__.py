"""AQA Studio engine: everything that is neither GUI nor a network definition."""

import os

# The work here runs in parallel across frames and backends (engine.extract.pipeline); numpy's
# and scipy's OpenBLAS would each add a pool of threads per core that spin after every call and
# take the cores from it. Set before numpy loads; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
