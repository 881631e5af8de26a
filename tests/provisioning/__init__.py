"""Tests of scc-provision and of the broker configuration it generates."""
