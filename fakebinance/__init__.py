"""Local fake Binance exchange (REST, WebSocket, data dumps) over a deterministic market."""
