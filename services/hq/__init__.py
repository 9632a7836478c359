"""Headquarters context: read models across every branch (总行)."""
