"""Atlassian Connect apps for Jira and Confluence Cloud, as a Django app."""

__version__ = "0.1.0"
