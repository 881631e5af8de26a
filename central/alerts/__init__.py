"""Alerts: rules that turn stored status into alerts, and the channels that tell people about them."""
