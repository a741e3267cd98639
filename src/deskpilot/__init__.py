"""deskpilot: a self-hostable AI customer-support platform with an OpenCX-compatible API."""

__version__ = "0.1.0"
