"""Op-table rows for tensorflux.ops.nn."""

ROWS = []
