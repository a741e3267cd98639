"""Reports on an org's conversations: handoff analytics (API.md 3.11) and the dashboard's
conversation report, both computed with aggregate queries."""
