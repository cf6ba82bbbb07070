"""``manage.py relay``: forward live updates from Redis to WebSocket clients."""

import asyncio
import signal

from django.core.management.base import BaseCommand

from live.relay import run_relay


class Command(BaseCommand):
    help = "Relay the consumer's Redis update channel to the Channels live group (runs until stopped)."

    def handle(self, *args: object, **options: object) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_relay(stop)
