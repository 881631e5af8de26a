"""Reports: weekly and monthly uptime and website-compliance figures as a page, CSV and PDF."""
