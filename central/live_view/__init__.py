"""Central's side of live view: the relay process (one upstream per camera) and its wire to the web."""
