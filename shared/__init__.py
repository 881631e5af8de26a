"""The wire contract agents, central and third parties share: topics, versioned messages, the codec."""
