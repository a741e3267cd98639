"""Widget API (API.md 4): routes, contact tokens and the rules behind them."""
