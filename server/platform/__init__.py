"""The platform every point domain stands on: municipalities, operators and their authority,
places, MyKey IDs with their card checks and CRLs, terminals' signed requests, the audit trail.

It knows nothing of points, terminals' enrollment or the features above them (``setup.cfg``'s
layers contract): a domain up there may use any of this, nothing here uses one of them.
"""

from __future__ import annotations
