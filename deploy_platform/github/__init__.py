"""GitHub: commit statuses (the API and the Redis outbox) and webhooks."""
