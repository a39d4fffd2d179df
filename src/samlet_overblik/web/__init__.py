"""The web app for caseworkers and compliance staff: ``create_app(settings)``."""

from .app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
