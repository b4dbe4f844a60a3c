"""NAS-Bench-201: the cell space, its benchmark tables, analytic costs and torch network."""

from hwnas.spaces.nb201.space import NB201, NB201Space

__all__ = ["NB201", "NB201Space"]
