"""The Market itself: the symbol table (listing at runtime, status changes and the halts they
cause) on top of the trades and klines it serves."""

from __future__ import annotations

from dataclasses import replace

from fakebinance.clock import to_us
from fakebinance.config import SymbolSpec
from fakebinance.market.klines import KlineQueries
from fakebinance.market.symbol_state import SymbolState
from fakebinance.market.units import MINUTE_US


class Market(KlineQueries):
    """The synthetic market; see the package docstring for the API."""

    @property
    def symbols(self) -> list[str]:
        """Symbol names, in listing order."""
        return list(self._syms)

    def specs(self) -> list[SymbolSpec]:
        """Current specs (status reflects runtime changes)."""
        return [s.spec for s in self._syms.values()]

    def spec(self, symbol: str) -> SymbolSpec:
        """Spec of one symbol; KeyError if unknown."""
        return self._syms[symbol].spec

    def symbol_state(self, symbol: str) -> SymbolState:
        """One symbol's state (its price path, listing and halts); KeyError if unknown."""
        return self._syms[symbol]

    def has_symbol(self, symbol: str) -> bool:
        """Is the symbol known (listed now or in the future)?"""
        return symbol in self._syms

    def is_listed(self, symbol: str, at_us: int | None = None) -> bool:
        """Known and already listed at ``at_us`` (default: now)."""
        st = self._syms.get(symbol)
        if st is None:
            return False
        now = self.clock.now_us() if at_us is None else at_us
        return to_us(st.spec.listed_at) <= now

    def list_symbol(self, spec: SymbolSpec) -> None:
        """Add a symbol at runtime (it trades from ``spec.listed_at``)."""
        with self._lock:
            if spec.symbol in self._syms:
                raise ValueError(f"{spec.symbol} already listed")
            self._syms[spec.symbol] = SymbolState(self.config.seed, spec)

    def set_status(self, symbol: str, status: str, trades_from_ms: int | None = None) -> int | None:
        """Change the status; leaving TRADING stops trades from the next minute on, and going
        back to it resumes them then, or at the minute ``trades_from_ms`` (a later one: the
        status shows at once, as Binance's may before trading restarts). Returns the open
        time (ms) of the first minute the change applies to, None when trading is unchanged."""
        with self._lock:
            st = self._syms[symbol]
            old = st.spec.status
            st.spec = replace(st.spec, status=status)
            if (old == "TRADING") == (status == "TRADING"):
                return None
            next_min = -(-self.clock.now_us() // MINUTE_US)
            if trades_from_ms is not None and status == "TRADING":
                next_min = max(next_min, -(-trades_from_ms // 60_000))
            if status != "TRADING":
                st.extra_halts.append((next_min, None))
            elif st.extra_halts and st.extra_halts[-1][1] is None:
                start = st.extra_halts[-1][0]
                st.extra_halts[-1] = (start, max(start, next_min))
            st.fold_extra_halts()
            st.reset()
            for key in [k for k in self._blocks if k[0] == symbol]:
                self._block_trades -= len(self._blocks.pop(key).t_us)
            for key in [k for k in self._day_rows if k[0] == symbol]:
                del self._day_rows[key]
            return next_min * 60_000

    def trading_minute(self, symbol: str, minute_open_ms: int) -> bool:
        """Does ``symbol`` trade (listed, not halted) in the minute starting at this ms?"""
        return self._syms[symbol].trading_minute(minute_open_ms // 60_000)
