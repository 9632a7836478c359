"""The foundation's benchmark: ``python -m bench`` (``--quick`` for a short smoke run).

In one run, against a database it creates and a broker it starts (or ``DATABASE_URL`` /
``KAFKA_BOOTSTRAP_SERVERS``), it measures the raw ceilings of this machine (plain asyncpg,
plain aiokafka), the event store (single-event and batched appends), the end-to-end latency from
an HTTP command to HQ's read model at a steady offered rate, and prints the ratios.
A script that prints figures, never a timed test.
"""
