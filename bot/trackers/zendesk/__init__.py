"""Zendesk Support: the adapter on ``zenpy`` (:mod:`.adapter`)."""
