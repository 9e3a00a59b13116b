"""critiquelab."""

import os as _os

# Idle OpenMP threads sleep instead of spinning: with spinning, one busy core on a shared
# machine made every parallel region wait, and training ran 13x slower (docs/PERFORMANCE.md).
# libgomp reads this when torch is first imported, which critiquelab's own modules do later.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
