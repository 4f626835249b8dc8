"""Runs full and delta syncs: checkpoints, deletion marking, sync run records, changed models."""
