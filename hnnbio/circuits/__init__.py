"""Circuits built from neurons: spiking sheets for the binding loop (B images as one group).

``sheet`` holds the protocol; ``reference`` the stochastic gated units of the reference model;
``column`` the cortical column sheet; ``demo`` the column demo behind ``hnnbio column``.
"""
