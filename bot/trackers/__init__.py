"""Tracker ports and adapters (Jira, in-memory; Zendesk later)."""
