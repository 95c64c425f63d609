"""Stand-ins that harnesses import, as the projects import their own modules.

A project's objects that cross a process boundary by reference (a constant of a crop grown in
parallel, a resource) must be importable in the worker, as they are in the project (a qiskit
circuit, a model class). Defined here, beside the harnesses (copied next to each harness for
its run), they are. Nothing here uses xyzpy or xyzfarm.
"""

from __future__ import annotations


class TargetCircuit:
    """Stands for a qiskit QuantumCircuit: what BryceFuller/qiskit_camp's experiment reads."""

    def __init__(self, in_weights, in_strings):
        self.in_weights = list(in_weights)
        self.in_strings = list(in_strings)

    def width(self):
        return len(self.in_strings[0])

    def depth(self):
        return 2 * len(self.in_strings) + sum(self.in_weights) % 3

    def __repr__(self):
        return f"TargetCircuit(width={self.width()}, depth={self.depth()})"


class FitClass:
    """Stands for phockett/PEMtk's pemtk.fit.fitClass: fit() stores a result dict per index."""

    def __init__(self):
        self.data = {}
        self._randomized = 0

    def randomizeParams(self):
        self._randomized += 1

    def fit(self, fitInd=None):
        import numpy as np

        rng = np.random.default_rng(fitInd)
        self.data[fitInd] = {
            "params": rng.normal(size=3),
            "chisqr": float(rng.random()),
            "success": True,
            "nfev": int(10 + fitInd),
        }
