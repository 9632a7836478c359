"""Follow-up context: tasks that keep a promise to a customer (跟踪服务)."""
