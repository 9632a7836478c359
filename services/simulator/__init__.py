"""The multi-branch simulator: realistic traffic over the services' real HTTP APIs (and, for
benchmarks of HQ alone, well-formed envelopes straight onto the topics)."""
