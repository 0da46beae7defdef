"""Op-table rows for tensorflux.ops.random."""

ROWS = []
