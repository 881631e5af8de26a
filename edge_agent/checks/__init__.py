"""Camera check plugins; the registry (edge_agent.checks.registry) lists them and runs them."""
