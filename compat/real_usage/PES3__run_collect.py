"""Antiproton scattering trajectories: crops sown per energy, grown on a cluster, reaped.

Source: TomMelt/PES3
Path: scatter/run.py and scatter/collect.py
Commit: ce6610bfd7131c2bf7789188053ab3f28ef776df
Exercises: xyzpy.Runner(fn, var_names=None) of a function returning an xr.Dataset (string
    coordinates, bool and int variables); xyzpy.Harvester(r, data_name='data.h5');
    h.Crop(name='run'+str(i), batchsize=...) in a loop; sow_combos of a list of
    (name, values) pairs, five of them single-valued, one a range; qsub_grow(minutes=15,
    gigabytes=1, launcher=...) to an SGE cluster; then, in collect.py, a fresh
    xyzpy.Crop(name=..., batchsize=...) per run, reap() (into the harvester's data.h5).
Stand-in: runTrajectory (_scatter.py) fills the same Dataset from a seeded generator
    instead of integrating the trajectory.
Changed: qsub_grow(...) -> gen_qsub_script(...) with the same arguments (the script is
    not compared) and grow_missing() (no cluster here); `import scatter as sc` ->
    `import _scatter as sc`; N 28 -> 2, trajID range(4000) -> range(6), batchsize 40 -> 3.
"""
import xyzpy
import _scatter as sc
import numpy as np

# run.py
r = xyzpy.Runner(
    sc.runTrajectory,
    var_names=None,
)

h = xyzpy.Harvester(r, data_name='data.h5')

N = 2
epsilon = np.round(np.linspace(0.1, 2.7, num=N), 2)
bmax = np.round(np.linspace(10, 3, num=N), 1)

combo = []

scripts = []
for i in range(N):
    combos = [
        ('seed', [0]),
        ('J', [0]),
        ('v', [0]),
        ('epsilon', [epsilon[i]]),
        ('trajID', range(6)),
        ('bmax', [bmax[i]]),
    ]

    c = h.Crop(name='run'+str(i), batchsize=3)

    c.sow_combos(combos)

    script = c.gen_qsub_script(
            minutes=15,
            gigabytes=1,
            launcher="/home/ucaptme/miniconda3/bin/python3"
            )
    scripts.append(isinstance(script, str) and len(script) > 0)
    c.grow_missing()

# collect.py
N = 2
reaped = []
for i in range(N):
    c = xyzpy.Crop(name='run'+str(i), batchsize=3)
    reaped.append(c.reap())

RESULTS = {"scripts_written": scripts, "reaped": reaped, "data": xyzpy.load_ds('data.h5')}
RESULT_FILES = ['data.h5']
