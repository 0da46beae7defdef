"""tensorflux.io: file-level helpers (atomic writes)."""
