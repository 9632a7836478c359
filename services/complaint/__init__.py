"""Complaint context: complaint cases from receipt to close (投诉处理)."""
