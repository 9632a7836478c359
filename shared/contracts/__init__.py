"""The published language: event payloads each context puts on its Kafka topic.

A context's decider emits these models; other contexts import them to validate what they
consume. Importing a contract module registers its event types in ``shared.registry.REGISTRY``.

No event carries staff's free text: text fields are :class:`shared.contracts.text.TextRef`
references to the text the receiving context keeps (``shared/texts.py``); request bodies take
free text as :data:`shared.contracts.text.FreeText` and its relatives. ``text.py`` holds both, and
``withhold_texts`` registers the upcasters that turn text recorded before v2 into withheld refs.

A code table (an enum whose values are its members' names) is declared in one line,
``Urgency = StrEnum("Urgency", "normal urgent")``: each code is written once, and mypy knows the
members. Where the table has a docstring, ``Urgency.__doc__ = "..."`` follows it (it is the JSON
schema's description); what single codes mean is said in the ``#:`` comment above it, one ``- ``
line a code.
"""
