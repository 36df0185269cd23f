"""MedFlow edge agent: takes device files and analyzer messages on the clinic LAN to S3, losing nothing."""

__version__ = "0.1.0"
