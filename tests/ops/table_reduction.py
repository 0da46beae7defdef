"""Op-table rows for tensorflux.ops.reduction."""

ROWS = []
