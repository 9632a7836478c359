-- The W3C traceparent of the command that appended the event (shared/tracing.py): the outbox relay
-- sends it as the Kafka header `traceparent`, so a request, its events and every reaction to them
-- are one trace. NULL when tracing is off or for events appended before this column existed.
ALTER TABLE events ADD COLUMN IF NOT EXISTS traceparent text;
