"""Connectors: how lmsbridge talks to each LMS (one sub-package per tool, behind ``base.Connector``)."""
