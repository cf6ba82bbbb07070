"""Shopper interactions (``interaction.v1``) and the views -> carts -> checkouts -> purchases funnel.

``contract`` is the only place interactions become bytes; ``simulate`` makes
them from simulated sales; ``funnel`` holds the pure counting rules both
layers share; ``consumer`` (speed) and ``batch`` (warehouse) apply them.
"""
