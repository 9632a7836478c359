"""Feedback context: satisfaction surveys, scores and service recovery triggers (客户反馈)."""
