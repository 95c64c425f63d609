"""What growing one batch reports: the grower's (worker's) and the pool's shared answers.

LEAN: standard library only; the worker, the pool and the crop's local grower read them.
"""

from __future__ import annotations

#: the batch's results are written (``grow_batch``)
DONE = "done"
#: the batch failed: its failure record says why (``failed/<i>.json``)
FAILED = "failed"
#: another grower holds the batch's claim
BUSY = "busy"
#: the batch was done before this grower came to it
ALREADY = "already"
