"""Jira Cloud and Jira Service Management: the adapter (:mod:`.adapter`) and the JSON model (:mod:`.model`)."""
