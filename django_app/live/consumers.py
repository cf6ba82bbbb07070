"""``/ws/live/``: logged-in users get a snapshot, then every live update.

The relay (``manage.py relay``) forwards each message of the consumer's
Redis channel to the Channels group as pre-encoded text; this consumer sends
it on unchanged, so fan-out costs one ``send`` per client and no JSON work.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from api.speed import names
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from live.services import ws_clients_add
from live.snapshot import live_snapshot_get

log = logging.getLogger(__name__)
#: Close code for an unauthenticated handshake (rejected before accept: HTTP 403).
UNAUTHORISED = 4401


class LiveSalesConsumer(AsyncWebsocketConsumer):
    group: str | None = None
    #: Whether this connection was added to the clients counter (so it is taken off once).
    counted: bool = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORISED)
            return
        self.group = names().live_group
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await sync_to_async(ws_clients_add, thread_sensitive=False)(1)
        self.counted = True
        await self.send_snapshot()

    async def disconnect(self, code: int) -> None:
        if self.counted:
            self.counted = False
            await sync_to_async(ws_clients_add, thread_sensitive=False)(-1)
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Clients may ask for a fresh snapshot (after a batch publish, or when in doubt)."""
        try:
            message = orjson.loads(text_data or b"{}")
        except orjson.JSONDecodeError:
            return
        if isinstance(message, dict) and message.get("type") == "resync":
            await self.send_snapshot()

    async def send_snapshot(self) -> None:
        snapshot = await sync_to_async(live_snapshot_get, thread_sensitive=False)()
        await self.send(text_data=orjson.dumps(snapshot).decode())

    async def live_update(self, event: dict[str, Any]) -> None:
        """Group message from the relay: ``{"type": "live.update", "text": <JSON text>}``."""
        await self.send(text_data=event["text"])
