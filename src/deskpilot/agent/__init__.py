"""The agent: one conversation turn, from gate to reply."""
