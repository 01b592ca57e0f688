"""The Zendesk webhook builders of the test kit (:mod:`bot.testing.zendesk`), under the name the scenario tests
use."""

from bot.testing.zendesk import ACCOUNT_ID, EVENT_VERSION, ZendeskTicket, ZendeskWebhooks, zendesk_time

__all__ = ["ACCOUNT_ID", "EVENT_VERSION", "ZendeskTicket", "ZendeskWebhooks", "zendesk_time"]
