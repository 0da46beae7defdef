"""Op-table rows for tensorflux.ops.linalg."""

ROWS = []
