"""Webhooks (API.md 3.10, 5): an org's endpoints, events recorded in an outbox in the same
transaction as the change that caused them, and their signed, retried, in-order delivery."""
