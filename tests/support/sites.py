"""The EverBright-like people and Jira Service Management fields the tracker tests seed their sites with."""

from __future__ import annotations

from typing import Any

BOT = "ticketbot@goeverbright.com"
DAVID = "david.ellis@goeverbright.com"
MARIA = "maria.lopez@goeverbright.com"
ONBOARDING = "onboarding@goeverbright.com"
CUSTOMER = "ops@sunpeaksolar.example"

#: JSM's own fields (organizations, request type, participants) and the two the EverBright form fills.
JSM_FIELDS: list[dict[str, Any]] = [
    {"id": "customfield_10002", "name": "Organizations", "type": "sd-organizations"},
    {"id": "customfield_10010", "name": "Request Type", "type": "sd-request-type"},
    {"id": "customfield_10001", "name": "Request participants", "type": "sd-participants"},
    {"id": "customfield_10050", "name": "Needs Configuration?", "type": "option",
     "options": ["Integrated Finance", "Integrated Payments", "None"]},
    {"id": "customfield_10051", "name": "Installer name", "type": "text"},
]

#: The service desk's workflow: waiting for support <-> waiting for customer, then resolved.
JSM_TRANSITIONS: list[dict[str, Any]] = [
    {"id": "11", "name": "Respond to customer", "to": "Waiting for customer", "from": ["Waiting for support"]},
    {"id": "21", "name": "Back to support", "to": "Waiting for support", "from": ["Waiting for customer"]},
    {"id": "31", "name": "Resolve this issue", "to": "Closed"},
]
