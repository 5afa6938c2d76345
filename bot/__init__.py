"""Skywatch: a news-monitoring bot that alerts teams when stories break on topics they follow."""

__version__ = "0.1.0"
HOME_PAGE = "https://github.com/skywatch-news/skywatch"
USER_AGENT = f"Skywatch/{__version__} (+{HOME_PAGE})"
