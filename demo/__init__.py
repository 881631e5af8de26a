"""`make demo`: the whole SCC system on one machine, with simulated cameras and websites."""
