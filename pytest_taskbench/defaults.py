"""The defaults a run falls back on, named once: every module, option and doc line reads them from here."""

from __future__ import annotations

PASS_THRESHOLD = 0.8  # a case passes at this score
ALPHA = 0.05  # significance level of the regression tests; intervals are at 1 - ALPHA
SEED = 20240601  # resampling seed: the same results give the same intervals
MIN_CASES = 100  # below this many cases a gated run warns that its interval is too wide to trust
MAX_SIDE_EFFECTS = 0  # conversations with a critical side effect before the max_side_effects gate fails the run (zero tolerance)
MAX_ERRORS = 0  # cases the model may fail to answer before the max_errors gate fails the run

MAX_NEW_TOKENS = 128  # tokens generated per case unless the suite says
BATCH_SIZE = 0  # prompts per generation batch; 0 is auto: sized from the prompts' token lengths and free memory
DEVICE = "auto"  # cuda, then mps, then cpu
DTYPE = "auto"
DECODING = "auto"  # greedy batches of a transformers model through generation/greedy.py where it is exact, else generate
GENERATION_SEED = 0  # a sampled suite's seed unless generation.seed says: the same command draws the same samples
POLICY = "mean"  # how a case's samples become its score and pass/fail

TOOL_PARSER = "auto"  # how tool calls are read from a model's text (call_parsers.py)

HTTP_ENDPOINT = "chat"
HTTP_API_KEY_ENV = "TASKBENCH_API_KEY"
HTTP_CONCURRENCY = 256  # the most requests in flight at once; the HTTP backend adapts below it (generation/concurrency.py)
HTTP_TIMEOUT_SECONDS = 120
HTTP_RETRIES = 3

STRENGTH = 0.90  # failure analysis: categories at or above this mean are strengths
WEAKNESS = 0.80  # failure analysis: categories below this mean are weaknesses
