"""OPD website monitoring: availability, TLS and content freshness, reported as WebsiteStatus."""

from edge_agent.websites.checker import WebsiteChecker, default_client_factory
from edge_agent.websites.config import (
    WebsiteConfigError,
    WebsiteTarget,
    load_website_targets,
    provincial_targets,
)
from edge_agent.websites.findings import WebsiteFindings, findings_json, format_website_table

__all__ = [
    "WebsiteChecker",
    "WebsiteConfigError",
    "WebsiteFindings",
    "WebsiteTarget",
    "default_client_factory",
    "findings_json",
    "format_website_table",
    "load_website_targets",
    "provincial_targets",
]
