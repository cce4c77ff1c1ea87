"""The command palette provider: every action the keys do, found by its description."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class LvstopCommands(Provider):
    def _commands(self) -> list[tuple[str, str, str]]:
        app = self.app
        out = []
        for binding in getattr(app, "PALETTE_BINDINGS", ()):
            if app.check_action(binding.action, ()) is False:
                continue
            key = app.get_key_display(binding)
            out.append((f"{binding.description} ({key})", binding.action, binding.tooltip or ""))
        return out

    async def discover(self) -> Hits:
        for text, action, help_text in self._commands():
            yield DiscoveryHit(text, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, action, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(self.app.run_action, action),
                    help=help_text,
                )
