"""Experiments of the literature's HNNs built on the graph (attention, ...), beside binding."""
