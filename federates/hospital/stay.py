"""Length of stay: how long a patient keeps a bed.

Three distributions, all set by their mean: exponential, lognormal (with a coefficient
of variation) and fixed.  Besides full stays, :meth:`Stay.sample_residual` draws the
*remaining* stay of a patient found in bed at a random instant of a steady state (the
equilibrium excess distribution, density ``(1 - F(x)) / E[S]``), which is how the
hospital is filled at the start of a run without a warm-up.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Stay", "StayDistribution"]


class StayDistribution(str, enum.Enum):
    """Shape of the length-of-stay distribution."""

    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"
    FIXED = "fixed"


@dataclass(frozen=True)
class Stay:
    """A length-of-stay distribution; ``mean`` in seconds, ``cv`` used by the lognormal only."""

    distribution: StayDistribution
    mean: float
    cv: float = 1.0

    def __post_init__(self) -> None:
        if not (self.mean > 0 and math.isfinite(self.mean)):
            raise ValueError(f"length of stay: mean must be > 0 and finite, got {self.mean!r}")
        if not self.cv > 0:
            raise ValueError(f"length of stay: cv must be > 0, got {self.cv!r}")

    @property
    def _log_params(self) -> tuple[float, float]:
        """(mu, sigma) of the underlying normal of the lognormal with this mean and cv."""
        sigma2 = math.log1p(self.cv * self.cv)
        return math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2)

    def sample(self, rng: np.random.Generator) -> float:
        """A full length of stay (s)."""
        if self.distribution is StayDistribution.EXPONENTIAL:
            return float(rng.exponential(self.mean))
        if self.distribution is StayDistribution.LOGNORMAL:
            mu, sigma = self._log_params
            return float(rng.lognormal(mu, sigma))
        return self.mean

    def sample_residual(self, rng: np.random.Generator) -> float:
        """The remaining stay (s) of a patient seen in bed at a random steady-state instant.

        Drawn as ``U * L`` with ``U`` uniform and ``L`` length-biased (density
        ``x f(x) / E[S]``): a gamma(2) for the exponential, a lognormal with ``mu + sigma^2``
        for the lognormal, the mean itself for a fixed stay.
        """
        if self.distribution is StayDistribution.EXPONENTIAL:
            biased = float(rng.gamma(2.0, self.mean))
        elif self.distribution is StayDistribution.LOGNORMAL:
            mu, sigma = self._log_params
            biased = float(rng.lognormal(mu + sigma * sigma, sigma))
        else:
            biased = self.mean
        return float(rng.uniform()) * biased
