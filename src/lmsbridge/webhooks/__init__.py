"""Signed outgoing webhooks: the outbox (events written in the caller's transaction), endpoints, delivery."""
