"""The web app for caseworkers and compliance staff: ``create_app(settings)``."""

from samlet_overblik.web.app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
