"""Hospital federate: ward and ICU bed pools, backup power and patient transfers (SimPy).

See ``docs/federates/hospital.md``.  Entry point: ``federates.hospital:HospitalFederate``.
"""

from .config import HospitalConfig, hospital_config
from .federate import HospitalFederate
from .pool import BedPool, Policy, PoolConfig, PoolKind
from .stay import Stay, StayDistribution

__all__ = [
    "BedPool",
    "HospitalConfig",
    "HospitalFederate",
    "Policy",
    "PoolConfig",
    "PoolKind",
    "Stay",
    "StayDistribution",
    "hospital_config",
]
