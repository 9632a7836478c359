"""Reception context: visits, queue tickets, counters and phone calls (客户接待)."""
