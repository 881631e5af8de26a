"""SCC's private PKI: a CA, the Mosquitto broker's TLS and ACL configuration, and enrollment bundles."""
