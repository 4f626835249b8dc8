"""Kombo's connector "features": API passthrough, scope testing, per-model tests, availability."""
