"""Op-table rows for tensorflux.ops.array."""

ROWS = []
