"""Webhooks from the connected LMS: receiving endpoints, verified and stored events, subscriptions'
bookkeeping. Vendor-neutral: what an event means is the connector's business (e.g.
``connectors/learning360/events.py``), applying it is ``sync/incoming.py``'s."""
