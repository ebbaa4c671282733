"""What a Binance REST request can fail with: errors, bans, retryable failures and 429s."""

from __future__ import annotations


class BinanceError(RuntimeError):
    """Binance answered with an error; the message is one line for the CLI."""


class IpBannedError(BinanceError):
    """HTTP 418: the IP is banned; going on would only lengthen the ban."""


class RetryableError(BinanceError):
    """A failed attempt worth another: no answer, a 5xx, an unreadable body."""


class ThrottledError(RetryableError):
    """A 429: the budget holds every caller for its Retry-After, so the retry need not wait."""
