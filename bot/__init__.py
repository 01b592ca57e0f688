"""ticketbot: runbook automation for Jira Service Management and Zendesk."""
