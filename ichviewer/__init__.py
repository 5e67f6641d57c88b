"""ichviewer: the Qt reading app. Imports ichmodel; ichmodel never imports it."""

__version__ = "0.1.0"
