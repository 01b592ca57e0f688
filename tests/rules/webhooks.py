"""The Jira webhook builders of the test kit (:mod:`bot.testing.jira`), under the name the scenario tests use."""

from bot.testing.jira import Issue, JiraWebhooks, epoch_ms, jira_time

__all__ = ["Issue", "JiraWebhooks", "epoch_ms", "jira_time"]
