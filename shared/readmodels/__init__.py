"""Rebuilding read models from their inputs: the store-fed ones by folding the service's own event
store (:mod:`.store_fed`, used by the restore drill and by ``branchcare rebuild``), run against a
live database under locks (:mod:`.live`); the Kafka-fed ones by replaying their topics
(:mod:`.kafka_fed`). :mod:`.catalogue` names every read model of every service and how it is rebuilt."""
