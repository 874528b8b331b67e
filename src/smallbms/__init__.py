"""smallbms: an open software implementation of the smallBMS NG battery management system."""

__version__ = "0.1.0"
