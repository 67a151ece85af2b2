"""How many energy evaluations a pyramid level gets: a budget per level, and an early stop once the energy has
stopped falling."""

from __future__ import annotations

from dataclasses import dataclass


class EnergyFlat(Exception):
    """Raised by a level's energy closure when the energy has stopped falling: the level ends there."""


@dataclass(frozen=True)
class Schedule:
    """``iterations`` evaluations per level (``finest_iterations`` at the finest, null = the same); with
    ``stop_window`` a level also ends when its ``stop_window`` latest evaluations did not bring the lowest energy
    ``stop_tolerance`` (relative) below the lowest before them."""

    iterations: int = 30
    finest_iterations: int | None = None
    stop_window: int | None = None
    stop_tolerance: float = 0.005

    def budget(self, level: int, levels: int) -> int:
        """The evaluations of ``level`` (0 = coarsest) of ``levels``."""
        finest = level == levels - 1 and self.finest_iterations is not None
        return self.finest_iterations if finest else self.iterations

    def stopped_falling(self, energies: list[float]) -> bool:
        """Whether the level's energies so far (one per evaluation) say the energy has stopped falling."""
        window = self.stop_window
        if window is None or len(energies) < 2 * window:
            return False
        before, latest = min(energies[:-window]), min(energies[-window:])
        return latest > before - self.stop_tolerance * abs(before)
