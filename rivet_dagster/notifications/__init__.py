"""Notifications: Slack messages on failures (a run-failure sensor), schema changes and degraded runs."""
