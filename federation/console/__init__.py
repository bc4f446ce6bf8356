"""The operator's web console: a live run's page, and a finished run's timeline (docs/console.md)."""
