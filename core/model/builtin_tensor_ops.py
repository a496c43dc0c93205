"""Tensor operations as layer types (arithmetic, reductions, reshaping, indexing, learned parameters)."""
