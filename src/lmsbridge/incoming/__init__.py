"""Webhooks from the connected LMS: receiving endpoints, verified and stored events, subscriptions'
bookkeeping. Vendor-neutral: what an event means is the connector's business (its ``events``
module), applying it is ``sync/incoming.py``'s."""
