"""Nested structures as Keras's `tree` sees them: tensorflux.nest under Keras's module name."""

from tensorflux.nest import flatten, is_nested, map_structure, pack_sequence_as

__all__ = ["flatten", "map_structure", "pack_sequence_as", "is_nested"]
