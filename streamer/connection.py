"""WebSocket shards: subscribe, read, reconnect with backoff, rotate before Binance's 24 h cut."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from collections.abc import Iterable
from typing import Protocol

import orjson
from picows import WSCloseCode, WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from include.platform.backoff import Backoff
from streamer.config import StreamerConfig, ws_base
from streamer.parser import Ack, FrameError, ServerShutdown, Trade, parse_frame

logger = logging.getLogger(__name__)

# A session that lived this long earned a fresh backoff.
STABLE_SECONDS = 30.0
ACK_TIMEOUT = 10.0
# Connect and handshake, in seconds.
OPEN_TIMEOUT = 10.0
# A ping after this long without a frame; no pong in as long again drops the connection.
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
# Largest frame, and largest message of several frames, in bytes.
MAX_FRAME = MAX_MESSAGE = 2**22
TEXT, BINARY = WSMsgType.TEXT, WSMsgType.BINARY
CONTINUATION, CLOSE = WSMsgType.CONTINUATION, WSMsgType.CLOSE
# Longest a rotation keeps both sockets; quiet connections wait this long.
ROTATE_OVERLAP = 5.0


class SubscribeError(RuntimeError):
    """The server refused or ignored a SUBSCRIBE."""


class Sink(Protocol):
    """What a shard feeds: the streamer application."""

    def on_trade(self, trade: Trade, now: float) -> None: ...

    def on_malformed(self, shard: str, raw: object, error: Exception) -> None: ...


class AttemptLimiter:
    """Binance allows 300 connection attempts per 5 minutes per IP: shared by every shard."""

    def __init__(self, attempts: int, window: float) -> None:
        self.attempts = attempts
        self.window = window
        self._times: collections.deque[float] = collections.deque()

    async def acquire(self) -> None:
        """Wait until one more attempt fits in the window, and take it."""
        while True:
            now = time.monotonic()
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            if len(self._times) < self.attempts:
                self._times.append(now)
                return
            await asyncio.sleep(self._times[0] + self.window - now)


class Session(WSListener):
    """One WebSocket connection: its frames, its subscribe requests and their answers.

    picows calls ``on_ws_frame`` from the socket's read callback with every frame a read
    brought, parsed in C: no task per connection and no queue between the socket and the
    aggregator. Each read holds at most the client's read buffer of frames,
    so the writer gets its turn between reads as it did between the old reader's slices."""

    _ids = itertools.count(1)

    def __init__(self, shard: Shard, hold: bool = False) -> None:
        super().__init__()
        self.shard = shard
        # A rotation's replacement holds its trades until the old socket has caught up, so a
        # lagging old socket is not mistaken for a gap.
        self.held: list[tuple[Trade, float]] | None = [] if hold else None
        self.transport: WSTransport | None = None
        # Set when the socket opens (on_ws_connected): the shard watches a session from then.
        self.opened = self.last_frame = 0.0
        # Exchange times of the first and last trade frames: how a rotation knows it overlaps.
        self.first_event_ms = 0
        self.last_event_ms = 0
        # Every trade up to this exchange time has been delivered by this socket.
        self.complete_event_ms = 0
        self.done = asyncio.Event()
        self.rotate_now = asyncio.Event()
        self._acks: dict[int, asyncio.Future[Ack]] = {}
        self._last_control = 0.0
        # Frames of a fragmented message (Binance sends none; the protocol allows them).
        self._fragments: list[bytes] = []
        self._fragment_bytes = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.opened = self.last_frame = time.monotonic()
        self.shard.sessions.add(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind in (TEXT, BINARY):
            if frame.fin:
                self._message(frame.get_payload_as_bytes())
            else:
                payload = frame.get_payload_as_bytes()
                self._fragments, self._fragment_bytes = [payload], len(payload)
        elif kind == CONTINUATION:
            payload = frame.get_payload_as_bytes()
            self._fragments.append(payload)
            self._fragment_bytes += len(payload)
            if self._fragment_bytes > MAX_MESSAGE:
                # As a message over the size limit in one frame: the connection is dropped.
                logger.warning(
                    "%s: a message over %d bytes, reconnecting", self.shard.name, MAX_MESSAGE
                )
                self._fragments = []
                self.abort()
            elif frame.fin:
                raw, self._fragments = b"".join(self._fragments), []
                self._message(raw)
        elif kind == CLOSE:
            logger.info(
                "%s: connection closed by the server: %s %s",
                self.shard.name,
                int(frame.get_close_code()),
                frame.get_close_reason() or "",
            )
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def _message(self, raw: bytes) -> None:
        shard = self.shard
        self.last_frame = now = time.monotonic()
        try:
            frame = parse_frame(raw)
        except FrameError as exc:
            shard.sink.on_malformed(shard.name, raw, exc)
            return
        try:
            if type(frame) is Trade:
                if not self.first_event_ms:
                    self.first_event_ms = frame.event_ms
                if frame.event_ms > self.last_event_ms:
                    # Frames come in event order: a newer instant completes the older one.
                    self.complete_event_ms = self.last_event_ms
                    self.last_event_ms = frame.event_ms
                if self.held is not None:
                    self.held.append((frame, now))
                    return
                shard.messages[frame.symbol] = shard.messages.get(frame.symbol, 0) + 1
                if frame.event_ms > shard.last_event_ms:
                    shard.last_event_ms = frame.event_ms
                shard.last_data = now
                shard.sink.on_trade(frame, now)
            elif type(frame) is Ack:
                fut = self._acks.get(frame.id)
                if fut is not None and not fut.done():
                    fut.set_result(frame)
            elif type(frame) is ServerShutdown:
                logger.info("%s: serverShutdown received, replacing the connection", shard.name)
                self.rotate_now.set()
        except Exception:
            logger.exception("%s: reader failed", shard.name)
            self.abort()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        logger.info("%s: connection closed", self.shard.name)
        for fut in self._acks.values():
            if not fut.done():
                fut.set_exception(SubscribeError("connection closed"))
        self.shard.sessions.discard(self)
        self.done.set()

    async def control(self, method: str, streams: list[str]) -> None:
        """SUBSCRIBE/UNSUBSCRIBE in chunks, paced under Binance's 5 messages per second."""
        cfg = self.shard.config
        gap = 1.0 / cfg.control_messages_per_second
        for i in range(0, len(streams), cfg.subscribe_chunk):
            chunk = streams[i : i + cfg.subscribe_chunk]
            wait = self._last_control + gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.done.is_set() or self.transport is None:
                raise SubscribeError(f"{method}: connection closed")
            self._last_control = time.monotonic()
            ident = next(self._ids)
            fut: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
            self._acks[ident] = fut
            self.transport.send(
                TEXT, orjson.dumps({"method": method, "params": chunk, "id": ident})
            )
            try:
                ack = await asyncio.wait_for(asyncio.shield(fut), ACK_TIMEOUT)
            except TimeoutError as exc:
                raise SubscribeError(
                    f"{method} id {ident} not answered in {ACK_TIMEOUT} s"
                ) from exc
            finally:
                self._acks.pop(ident, None)
            if ack.error is not None:
                raise SubscribeError(f"{method} refused: {ack.error}")

    def release(self) -> None:
        """Stop holding: feed the held trades (duplicates of the old socket's are dropped)."""
        held, self.held = self.held or [], None
        for trade, now in held:
            self.shard.messages[trade.symbol] = self.shard.messages.get(trade.symbol, 0) + 1
            self.shard.sink.on_trade(trade, now)

    async def close(self) -> None:
        """Close politely, or abort when the peer does not answer."""
        transport = self.transport
        if transport is not None:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
            try:
                await asyncio.wait_for(transport.wait_disconnected(), 2.0)
            except Exception:
                transport.disconnect(graceful=False)
        self.shard.sessions.discard(self)
        self.done.set()

    def abort(self) -> None:
        """Drop the socket at once (a stalled peer will not answer a close)."""
        if self.transport is not None:
            self.transport.disconnect(graceful=False)


class Shard:
    """Up to 1024 streams on one connection, kept alive across drops, stalls and rotations."""

    def __init__(
        self,
        name: str,
        config: StreamerConfig,
        sink: Sink,
        limiter: AttemptLimiter,
        messages: dict[str, int] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.sink = sink
        self.limiter = limiter
        self.symbols: set[str] = set()
        # Symbols whose SUBSCRIBE the live session has acknowledged.
        self.subscribed: set[str] = set()
        self.session: Session | None = None
        self.sessions: set[Session] = set()
        self.state = "idle"
        self.state_since = time.monotonic()
        # When the shard last stopped being connected (None while connected): retries flip the
        # state between connecting and backoff, so state_since alone would never look "down".
        self.down_since: float | None = self.state_since
        self.reconnects = 0
        self.rotations = 0
        # Trade messages received per symbol (shared with the metrics when given).
        self.messages: dict[str, int] = {} if messages is None else messages
        self.last_event_ms = 0
        self.last_data = time.monotonic()
        # The market's path for this kind of stream (fstream routes /public and /market).
        self.url = ws_base(config.ws_url) + config.market.stream_path(config.stream)
        # Connect failures and dropped sessions share it: one policy for every reconnect.
        self.backoff = Backoff(config.backoff_initial, config.backoff_max)
        self._changes: asyncio.Queue[tuple[str, list[str]]] = asyncio.Queue()
        # The live session's helper tasks (Shard._take).
        self._helpers: list[asyncio.Task] = []

    @property
    def complete_event_ms(self) -> int:
        """Exchange time up to which every live socket has delivered everything (0: none)."""
        return min((s.complete_event_ms for s in self.sessions), default=0)

    def stream_name(self, symbol: str) -> str:
        """The stream of one symbol, e.g. btcusdt@trade."""
        return f"{symbol.lower()}@{self.config.stream}"

    def room(self) -> int:
        """How many more streams fit on this connection."""
        return self.config.streams_per_connection - len(self.symbols)

    def add(self, symbols: Iterable[str]) -> None:
        """Subscribe more symbols (live, on the open connection)."""
        new = [s for s in symbols if s not in self.symbols]
        self.symbols.update(new)
        if new:
            self._changes.put_nowait(("SUBSCRIBE", new))

    def remove(self, symbols: Iterable[str]) -> None:
        """Unsubscribe symbols (delisted or no longer trading)."""
        gone = [s for s in symbols if s in self.symbols]
        self.symbols.difference_update(gone)
        if gone:
            self._changes.put_nowait(("UNSUBSCRIBE", gone))

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_since = time.monotonic()
            if state == "connected":
                self.down_since = None
            elif self.down_since is None:
                self.down_since = self.state_since

    async def _open(self, stop: asyncio.Event, hold: bool = False) -> Session | None:
        """Connect and subscribe every symbol; retries with the shard's backoff."""
        while not stop.is_set():
            await self.limiter.acquire()
            self._set_state("connecting")
            session = None
            try:
                _, session = await asyncio.wait_for(
                    ws_connect(
                        lambda: Session(self, hold),
                        self.url,
                        websocket_handshake_timeout=OPEN_TIMEOUT,
                        enable_auto_ping=True,
                        auto_ping_idle_timeout=PING_INTERVAL,
                        auto_ping_reply_timeout=PING_TIMEOUT,
                        max_frame_size=MAX_FRAME,
                    ),
                    OPEN_TIMEOUT,
                )
                # Changes queued before this point are covered by the full subscription.
                while not self._changes.empty():
                    self._changes.get_nowait()
                symbols = sorted(self.symbols)
                if symbols:
                    await session.control("SUBSCRIBE", [self.stream_name(s) for s in symbols])
                self.subscribed = set(symbols)
                self._set_state("connected")
                logger.info("%s: connected, %d streams", self.name, len(symbols))
                return session
            except (OSError, TimeoutError, WSError, SubscribeError) as exc:
                if session is not None:
                    session.abort()
                    await session.close()
                self._set_state("backoff")
                self.reconnects += 1
                delay = self.backoff.next()
                logger.warning(
                    "%s: connect failed (%s), retrying in %.2f s",
                    self.name,
                    str(exc) or type(exc).__name__,
                    delay,
                )
                await _wait(stop, delay)
        return None

    async def _apply_changes(self, session: Session) -> None:
        while True:
            method, symbols = await self._changes.get()
            try:
                await session.control(method, [self.stream_name(s) for s in symbols])
                if method == "SUBSCRIBE":
                    self.subscribed.update(symbols)
                else:
                    self.subscribed.difference_update(symbols)
            except SubscribeError as exc:
                logger.warning("%s: %s failed (%s); reconnecting", self.name, method, exc)
                session.abort()
                return

    async def _watchdog(self, session: Session) -> None:
        timeout = self.config.silence_timeout
        while not session.done.is_set():
            await asyncio.sleep(min(1.0, timeout / 4))
            if time.monotonic() - session.last_frame > timeout:
                logger.warning("%s: no frame for %.1f s, reconnecting", self.name, timeout)
                session.abort()
                return

    async def _overlap(self, old: Session, new: Session) -> None:
        """Keep the old socket until both have delivered the same instant (or a time limit)."""
        started = time.monotonic()
        deadline = started + ROTATE_OVERLAP
        while time.monotonic() < deadline and not old.done.is_set():
            if new.first_event_ms and old.last_event_ms >= new.first_event_ms:
                break
            await asyncio.sleep(0.01)
        logger.debug(
            "%s: rotation overlap %.3f s (old %s)",
            self.name,
            time.monotonic() - started,
            "closed" if old.done.is_set() else "open",
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Keep one live session until ``stop``: serve it, reconnect with backoff when it is
        lost, rotate it before the server's age cut."""
        session: Session | None = None
        stop_task = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                if session is None:
                    session = await self._open(stop)
                    if session is None:
                        break
                    self._take(session)
                await self._serve(session, stop_task)
                if stop.is_set():
                    break
                if session.done.is_set() and not session.rotate_now.is_set():
                    lost, session = session, None
                    await self._back_off(lost, stop)
                    continue
                session = await self._rotate(session, stop)
                if session is None:
                    break
                self._take(session)
        finally:
            stop_task.cancel()
            self._drop_helpers()
            if session is not None:
                await session.close()
            self.session = None
            self._set_state("stopped")

    def _take(self, session: Session) -> None:
        """Make ``session`` the shard's live one, with its helpers: subscription changes and
        the silence watchdog."""
        self.session = session
        self._helpers = [
            asyncio.ensure_future(self._apply_changes(session)),
            asyncio.ensure_future(self._watchdog(session)),
        ]

    def _drop_helpers(self) -> None:
        for task in self._helpers:
            task.cancel()
        self._helpers = []

    async def _serve(self, session: Session, stop_task: asyncio.Future) -> None:
        """Deliver until the session ends, asks to rotate, reaches ROTATE_AFTER, or stop."""
        age = time.monotonic() - session.opened
        done_task = asyncio.ensure_future(session.done.wait())
        rotate_task = asyncio.ensure_future(session.rotate_now.wait())
        await asyncio.wait(
            {done_task, rotate_task, stop_task},
            timeout=max(0.0, self.config.rotate_after - age),
            return_when=asyncio.FIRST_COMPLETED,
        )
        done_task.cancel()
        rotate_task.cancel()
        self._drop_helpers()

    async def _back_off(self, lost: Session, stop: asyncio.Event) -> None:
        """A session was lost: wait the backoff (started over when it had lived long enough
        to count as stable) before the next connect."""
        self.subscribed = set()
        if time.monotonic() - lost.opened > STABLE_SECONDS:
            self.backoff.reset()
        self.reconnects += 1
        self._set_state("backoff")
        await _wait(stop, self.backoff.next())

    async def _rotate(self, old: Session, stop: asyncio.Event) -> Session | None:
        """Replace ``old``: the replacement subscribes while the old one still delivers (the
        overlap's duplicates are dropped by trade id); None when stopped meanwhile."""
        self.rotations += 1
        logger.info(
            "%s: rotating the connection (age %.0f s)", self.name, time.monotonic() - old.opened
        )
        session = await self._open(stop, hold=True)
        if session is not None:
            await self._overlap(old, session)
        await old.close()
        if session is not None:
            session.release()
        return session


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
