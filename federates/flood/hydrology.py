"""Catchment hydrology: rainfall -> effective rainfall -> runoff hydrograph.

Runoff is produced by a *Nash cascade*: ``n`` identical linear reservoirs in series,
each with outflow ``Q_i = S_i / k``.  Its instantaneous unit hydrograph is the gamma
density ``u(t) = (t/k)^(n-1) exp(-t/k) / (k (n-1)!)`` (Nash 1957); ``n = 1`` is the single
linear reservoir.  Effective rainfall is ``runoff_coefficient * rain`` over the catchment
area and enters the first reservoir.

The cascade is linear, ``dS/dt = A S + e1 * I``, so a step with constant input is
integrated *exactly* with the matrix exponential of the augmented system::

    [S(t+dt)]   = expm([[A, e1], [0, 0]] dt) [S(t)]
    [   1   ]                                [ I  ]

which makes the result independent of the step length for piecewise-constant rain and
conserves water to round-off (outflow volume = inflow volume - change of storage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = ["Catchment", "Hyetograph", "NashCascade", "rain_to_discharge"]

#: (mm/h) * km2 -> m3/s : 1e-3 m / 3600 s * 1e6 m2
_MM_PER_H_KM2_TO_M3_S = 1e3 / 3600.0


def rain_to_discharge(rain_mm_h: float, area_km2: float) -> float:
    """Volume rate (m3/s) of ``rain_mm_h`` falling on ``area_km2``."""
    return rain_mm_h * area_km2 * _MM_PER_H_KM2_TO_M3_S


@dataclass(frozen=True)
class Catchment:
    """The catchment draining into the reservoir.

    ``k_s`` is the storage constant of each reservoir of the cascade (s); the cascade's
    mean travel time (centroid lag of its unit hydrograph) is ``reservoirs * k_s``.
    """

    area_km2: float
    runoff_coefficient: float
    k_s: float
    reservoirs: int = 1
    baseflow_m3s: float = 0.0

    def __post_init__(self) -> None:
        if not self.area_km2 > 0:
            raise ValueError(f"catchment_area_km2 must be > 0, got {self.area_km2!r}")
        if not 0.0 <= self.runoff_coefficient <= 1.0:
            raise ValueError(f"runoff_coefficient must be in [0, 1], got {self.runoff_coefficient!r}")
        if not self.k_s > 0:
            raise ValueError(f"catchment_k_s must be > 0, got {self.k_s!r}")
        if self.reservoirs < 1:
            raise ValueError(f"catchment_reservoirs must be >= 1, got {self.reservoirs!r}")
        if self.baseflow_m3s < 0:
            raise ValueError(f"baseflow_m3s must be >= 0, got {self.baseflow_m3s!r}")

    def effective_inflow(self, rain_mm_h: float) -> float:
        """Effective rainfall as a volume rate entering the cascade (m3/s)."""
        return self.runoff_coefficient * rain_to_discharge(rain_mm_h, self.area_km2)


class NashCascade:
    """State of a Nash cascade: the storage (m3) of each reservoir, upstream first."""

    def __init__(self, catchment: Catchment) -> None:
        self.catchment = catchment
        self.storage = np.zeros(catchment.reservoirs)
        self._propagators: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def outflow(self) -> float:
        """Runoff leaving the catchment now, baseflow included (m3/s)."""
        return float(self.storage[-1]) / self.catchment.k_s + self.catchment.baseflow_m3s

    @property
    def volume(self) -> float:
        """Water stored in the cascade (m3)."""
        return float(self.storage.sum())

    def advance(self, rain_mm_h: float, dt: float) -> float:
        """Advance ``dt`` seconds under constant ``rain_mm_h``; return the runoff volume (m3).

        The returned volume excludes baseflow (add ``baseflow_m3s * dt``).
        """
        if rain_mm_h < 0 or not np.isfinite(rain_mm_h):
            raise ValueError(f"rain must be a finite rate >= 0 mm/h, got {rain_mm_h!r}")
        if dt <= 0:
            raise ValueError(f"time step must be > 0 s, got {dt!r}")
        inflow = self.catchment.effective_inflow(rain_mm_h)
        phi, gamma = self._propagator(dt)
        before = self.storage.sum()
        self.storage = phi @ self.storage + gamma * inflow
        np.maximum(self.storage, 0.0, out=self.storage)  # round-off only
        return float(inflow * dt - (self.storage.sum() - before))

    def _propagator(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        cached = self._propagators.get(dt)
        if cached is None:
            if len(self._propagators) > 32:
                self._propagators.clear()
            cached = cascade_propagator(self.catchment.reservoirs, self.catchment.k_s, dt)
            self._propagators[dt] = cached
        return cached


def cascade_propagator(n: int, k_s: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact one-step maps ``(Phi, Gamma)`` with ``S' = Phi S + Gamma I`` for constant I."""
    aug = np.zeros((n + 1, n + 1))
    idx = np.arange(n)
    aug[idx, idx] = -1.0 / k_s
    aug[idx[1:], idx[:-1]] = 1.0 / k_s
    aug[0, n] = 1.0
    expo = scipy.linalg.expm(aug * dt)
    return expo[:n, :n].copy(), expo[:n, n].copy()


@dataclass(frozen=True)
class Hyetograph:
    """A piecewise-constant rainfall series: rate ``rates[i]`` (mm/h) from ``times[i]`` (s).

    Before the first time the rate is 0; after the last one the last rate holds (end a
    storm with an explicit ``[t, 0]``).
    """

    times: tuple[float, ...]
    rates: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.times) != len(self.rates) or not self.times:
            raise ValueError("must be a non-empty list of [t_s, mm_per_h] pairs")
        if any(b <= a for a, b in zip(self.times, self.times[1:])):
            raise ValueError(f"times must increase strictly, got {list(self.times)}")
        bad = [r for r in self.rates if not (r >= 0 and np.isfinite(r))]
        if bad:
            raise ValueError(f"rates must be finite and >= 0 mm/h, got {bad[0]!r}")

    @classmethod
    def from_pairs(cls, pairs: object) -> Hyetograph:
        """Build from ``[[t_s, mm_per_h], ...]`` as written in a scenario."""
        try:
            rows = [(float(t), float(r)) for t, r in pairs]  # type: ignore[attr-defined]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must be a list of [t_s, mm_per_h] pairs, got {pairs!r}") from exc
        return cls(tuple(t for t, _ in rows), tuple(r for _, r in rows))

    def rate(self, t: float) -> float:
        """Rate in force at time ``t`` (mm/h)."""
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        return 0.0 if i < 0 else self.rates[i]

    def depth(self, t: float) -> float:
        """Cumulative rainfall from -inf to ``t`` (mm)."""
        times = np.asarray(self.times)
        rates = np.asarray(self.rates)
        i = int(np.searchsorted(times, t, side="right")) - 1
        if i < 0:
            return 0.0
        full = float(np.sum(rates[:i] * np.diff(times[: i + 1]))) / 3600.0
        return full + float(rates[i]) * (t - float(times[i])) / 3600.0

    def mean_rate(self, t0: float, t1: float) -> float:
        """Average rate over ``[t0, t1]`` (mm/h): exact for the piecewise-constant series."""
        first = int(np.searchsorted(self.times, t0, side="right"))
        if t1 <= t0 or first == int(np.searchsorted(self.times, t1, side="left")):
            return self.rate(t0)  # no breakpoint inside (t0, t1): exactly the rate in force
        return (self.depth(t1) - self.depth(t0)) * 3600.0 / (t1 - t0)
