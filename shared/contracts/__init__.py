"""The published language: event payloads each context puts on its Kafka topic.

A context's decider emits these models; other contexts import them to validate what they
consume. Importing a contract module registers its event types in ``shared.registry.REGISTRY``.
"""
