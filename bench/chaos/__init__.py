"""Fault injection: ``python -m bench.chaos`` (``make chaos``) breaks one part at a time under load
and checks every acknowledged request afterwards against the stores, the topics, HQ and follow-up.

See ``bench/chaos/__main__.py`` for what it prints and how each figure is measured.
"""
