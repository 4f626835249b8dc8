"""The 360Learning API v2 connector: client, budget, streams and pure mapping to unified records."""
