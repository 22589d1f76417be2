"""Print every case of a samples log (--taskbench-log-samples) on one line: id, score and reason."""

import json
import sys

with open(sys.argv[1], encoding="utf-8") as samples:
    for line in samples:
        sample = json.loads(line)
        print(f"{sample['case_id']:<18} {sample['score']:.2f}  {sample['reason']}")
