"""xyzfarm's own adversary (issue 23): damage, races, kills, disks, links and crafted files
against crops, data files and the command line, each trial judged as a user would judge it.

A trial is **exact** when it ends with the reaped Dataset equal to what the sweep computes,
**typed** when it ends with an error of ``xyzfarm.errors`` (or a command's one-line error and
its exit status) and nothing was lost, and **bad** otherwise: a wrong or foreign value
published, a case computed again that was checkpointed, an untyped error or a traceback, a
file written outside the crop's folder, a process left behind, a status that said "all
done" where the reap could not deliver.

Only the public API, the command line and the crop folder's files are used (and, for torn
checkpoints, the installed release's own record writer), so the same script measures an
earlier release: ``PYTHONPATH=<its tree> python scripts/adversary.py``.

Usage::

    python scripts/adversary.py [--classes twin,resow,...] [--json FILE]

Classes: twin, resow, sow, links, access, disk, torn, kill, inputs. ``access`` and ``disk``
need root (a user to become, tmpfs mounts) and are skipped, said so, without it. Exit status
1 if any trial is bad.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import xyzfarm as xyz
from xyzfarm import errors

MODEL = """
import os, subprocess, sys, time
import xyzfarm as xyz

@xyz.label(var_names=["y"])
def model(x):
    wait = float(os.environ.get("ADV_CASE_S", "0"))
    if wait:
        time.sleep(wait)
    calls = os.environ.get("ADV_CALLS")
    if calls:
        with open(calls, "a") as f:
            f.write(f"{x}\\n")
    if x == 104:
        raise ValueError("x is 104")
    return x * 10.0

@xyz.label(var_names=["y"])
def spawner(x):
    # a case that starts a helper and returns without waiting for it
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(os.environ["ADV_PIDS"], "a") as f:
        f.write(f"{child.pid}\\n{os.getpid()}\\n")
    time.sleep(float(os.environ.get("ADV_CASE_S", "0.05")))
    return x * 10.0

@xyz.label(var_names=["x"])
def same_name(x):
    return x

@xyz.label(var_names=["y"])
def crash(x):
    if x == 2:
        import ctypes
        ctypes.string_at(0)
    return x * 10.0
"""

OURS = [1, 2, 3, 4, 5, 6]
TWIN = [101, 102, 103, 104, 105, 106]


class Bad(Exception):
    """A trial ended badly; the message says how."""


# -- judging ----------------------------------------------------------------------------------


def judge_dataset(ds: Any, xs: list[int], *, complete: bool) -> str:
    """``exact``, or raise Bad: every label one of ours, every value its own label's."""
    labels = [int(v) for v in np.asarray(ds["x"].values).ravel()]
    if "y" in ds:
        ys = np.asarray(ds["y"].values, dtype=float).ravel()
    else:  # nothing finished: only the labels were published
        ys = np.full(len(labels), np.nan)
    if not set(labels) <= set(xs):
        raise Bad(f"published labels {sorted(set(labels) - set(xs))} that are not the sweep's")
    for label, y in zip(labels, ys):
        if not np.isnan(y) and y != label * 10.0:
            raise Bad(f"published y={y} for x={label} (expected {label * 10.0})")
    present = {lab for lab, y in zip(labels, ys) if not np.isnan(y)}
    if complete and present != set(xs):
        raise Bad(f"a complete reap lacks x={sorted(set(xs) - present)}")
    return "exact"


def attempt(fn: Callable[[], str]) -> tuple[str, str]:
    """Run one trial: (outcome, detail)."""
    try:
        return fn(), ""
    except Bad as exc:
        return "bad", str(exc)
    except errors.XyzfarmError as exc:
        return "typed", f"{type(exc).__name__}: {str(exc)[:160]}"
    except BaseException as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return (
            "bad",
            f"untyped {type(exc).__name__}: {str(exc)[:160]} ({where.filename}:{where.lineno})",
        )


@contextlib.contextmanager
def folder(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"adv-{prefix}-"))
    old = os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)
        shutil.rmtree(path, ignore_errors=True)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):
            info = path.lstat()
            out[str(path)] = (info.st_size, info.st_mtime_ns)
    return out


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 120, **kw: Any):
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def quiet() -> contextlib.AbstractContextManager[Any]:
    import warnings

    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


# -- the classes ------------------------------------------------------------------------------


class Adversary:
    def __init__(self, code: Path) -> None:
        self.code = code
        sys.path.insert(0, str(code))
        import advmodel

        self.m = advmodel
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join([str(code), self.env.get("PYTHONPATH", "")])

    def crop(self, parent: Path | str, fn: Any = None, **kw: Any) -> Any:
        return xyz.Crop(fn=fn or self.m.model, name="c", parent_dir=str(parent), **kw)

    def sown(self, parent: Path, xs: list[int], kind: str, grow: str) -> Any:
        crop = self.crop(parent, batchsize=2)
        if kind == "combos":
            crop.sow_combos({"x": xs})
        else:
            crop.sow_cases(["x"], [(x,) for x in xs])
        with contextlib.suppress(errors.XyzfarmError), quiet():
            crop.grow(None if grow == "all" else [1], verbosity=0)
        return crop

    # twin-file substitution: a file of a twin crop (same name, shape, other values) put in
    # place, as a copy between project folders does
    def twin(self) -> Iterator[tuple[str, Callable[[], str]]]:
        files = ["crop.json", "cases", "function.pkl", "results", "partial", "failed", "donemap"]
        for kind in ("combos", "cases"):
            for name in files:
                for phase in ("grow+reap", "reap incomplete", "pool+reap"):
                    yield (
                        f"{kind} {name} {phase}",
                        lambda k=kind, n=name, p=phase: self._twin(k, n, p),
                    )

    def _twin(self, kind: str, name: str, phase: str) -> str:
        with folder("twin") as here:
            ours = self.sown(here / "a", OURS, kind, "one")
            twin = self.sown(here / "b", TWIN, kind, "all")
            a, b = Path(ours.location), Path(twin.location)
            if name == "cases":
                for f in ("cases.bin", "cases.idx"):
                    shutil.copy(b / f, a / f)
            elif name in ("crop.json", "function.pkl"):
                shutil.copy(b / name, a / name)
            elif name == "results":
                for log in (b / "results").glob("*.log"):
                    shutil.copy(log, a / "results" / f"copied-{log.name}")
            elif name == "partial":
                (a / "partial").mkdir(exist_ok=True)
                shutil.copy(b / "partial" / "2", a / "partial" / "2")
            elif name == "failed":
                (a / "failed").mkdir(exist_ok=True)
                shutil.copy(b / "failed" / "2.json", a / "failed" / "2.json")
            elif name == "donemap":
                theirs = next(iter((b / "results").glob(".done*.map")), None)
                if theirs is None:
                    return "exact"  # nothing to substitute
                for mine in (a / "results").glob(".done*.map"):
                    shutil.copy(theirs, mine)
                shutil.copy(theirs, a / "results" / theirs.name)
            again = self.crop(here / "a")
            with quiet():
                status = again.status()
                said_done = status.total and status.done == status.total
                if phase == "reap incomplete":
                    return judge_dataset(again.reap(allow_incomplete=True), OURS, complete=False)
                options = {"num_workers": 2, "subprocess": True} if phase == "pool+reap" else {}
                with contextlib.suppress(errors.BatchFailedError):
                    again.grow(verbosity=0, **options)
                try:
                    return judge_dataset(again.reap(), OURS, complete=True)
                except errors.XyzfarmError:
                    if said_done:
                        raise Bad("status said all done, the reap could not deliver") from None
                    raise

    # delete and sow again while another process grows the crop
    def resow(self) -> Iterator[tuple[str, Callable[[], str]]]:
        for how in ("in its process", "in a pool"):
            for trial in range(3):
                yield f"{how} #{trial + 1}", lambda h=how: self._resow(h)

    def _resow(self, how: str) -> str:
        with folder("resow") as here:
            script = here / "grower.py"
            pool = "num_workers=2, subprocess=True, " if how == "in a pool" else ""
            script.write_text(
                textwrap.dedent(
                    f"""
                    import xyzfarm as xyz
                    from advmodel import model
                    crop = xyz.Crop(fn=model, name="c", batchsize=5)
                    crop.sow_combos({{"x": list(range(30))}})
                    crop.grow({pool}verbosity=0)
                    """
                )
            )
            old = subprocess.Popen(
                [sys.executable, str(script)],
                env={**self.env, "ADV_CASE_S": "0.03"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + 60
                crop_dir = here / ".xyz-c"
                while True:
                    found = [*crop_dir.glob("partial/*"), *crop_dir.glob("results/*.log")]
                    if len(found) >= 2:
                        break
                    if time.monotonic() > deadline or old.poll() is not None:
                        raise Bad("the old grower never wrote")
                    time.sleep(0.02)
                shutil.rmtree(crop_dir)  # rm -rf .xyz-c, while it grows
                new = self.crop(here, batchsize=5)
                new.sow_combos({"x": list(range(200, 230))})
                time.sleep(0.5)  # the old grower carries on meanwhile
                with quiet():
                    new.grow(verbosity=0)
                    outcome = judge_dataset(new.reap(), list(range(200, 230)), complete=True)
                try:
                    old.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    raise Bad("the old grower never stopped") from None
                return outcome
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(old.pid, signal.SIGKILL)
                old.wait()

    # two processes sowing one crop at once
    def sow(self) -> Iterator[tuple[str, Callable[[], str]]]:
        for trial in range(6):
            yield f"different sweeps #{trial + 1}", lambda: self._sow(same=False)
        for trial in range(2):
            yield f"the same sweep #{trial + 1}", lambda: self._sow(same=True)

    def _sow(self, same: bool) -> str:
        with folder("sow") as here:
            (here / "sower.py").write_text(
                textwrap.dedent(
                    """
                    import sys, time
                    import xyzfarm as xyz
                    from advmodel import model
                    first, start = int(sys.argv[1]), float(sys.argv[2])
                    while time.time() < start:
                        time.sleep(0.001)
                    crop = xyz.Crop(fn=model, name="c", batchsize=7)
                    try:
                        crop.sow_combos({"x": list(range(first, first + 3000))})
                    except xyz.errors.XyzfarmError as exc:
                        print("TYPED", type(exc).__name__)
                        sys.exit(7)
                    print("SOWN")
                    """
                )
            )
            start = time.time() + 1.5
            firsts = [1000, 1000] if same else [1000, 6000]  # (x=104 fails on purpose)
            procs = [
                subprocess.Popen(
                    [sys.executable, "sower.py", str(f), str(start)],
                    env=self.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for f in firsts
            ]
            outs = [p.communicate(timeout=120) for p in procs]
            for p, (_out, err) in zip(procs, outs):
                if p.returncode not in (0, 7) or "Traceback" in err:
                    raise Bad(f"a sower ended with {p.returncode}: {err.strip()[-300:]}")
            codes = sorted(p.returncode for p in procs)
            if not same and codes == [0, 0]:
                raise Bad("both sows of different sweeps returned normally: one is lost")
            crop = self.crop(here)
            with quiet():
                crop.grow(verbosity=0)
                ds = crop.reap()
            first = int(np.asarray(ds["x"].values).min())
            outcome = judge_dataset(ds, list(range(first, first + 3000)), complete=True)
            if first not in firsts:
                raise Bad(f"the crop holds a sweep nobody sowed (from {first})")
            if list(here.glob("..xyz-c*")) or list(here.glob(".xyz-c.*deleting*")):
                raise Bad("a temporary folder of a sow was left")
            return outcome if codes == [0, 0] else "typed"

    # links to elsewhere in place of a crop's files and folders
    def links(self) -> Iterator[tuple[str, Callable[[], str]]]:
        entries = [
            "results",
            "results/<done map>",
            "results/<log>",
            "logs",
            "partial",
            "failed",
            "cases.bin",
            "running.lock",
            "crop.json",
        ]
        for entry in entries:
            for phase in ("status", "grow", "reap"):
                yield f"{entry} {phase}", lambda e=entry, p=phase: self._link(e, p)

    def _link(self, entry: str, phase: str) -> str:
        with folder("link") as here:
            crop = self.sown(here, OURS, "combos", "one")
            root = Path(crop.location)
            (root / "logs").mkdir(exist_ok=True)
            (root / "partial" / "3").write_bytes(b"")
            (root / "failed").mkdir(exist_ok=True)
            if entry == "results/<done map>":
                path = next((root / "results").glob(".done*.map"))
            elif entry == "results/<log>":
                path = next((root / "results").glob("*.log"))
            else:
                path = root / entry
            outside = here / "outside"
            outside.mkdir()
            moved = outside / path.name
            shutil.move(path, moved)
            os.symlink(moved, path)
            before = snapshot(outside)
            try:
                if phase == "status":
                    done = run([sys.executable, "-m", "xyzfarm", "status"], env=self.env)
                    if "Traceback" in done.stderr:
                        raise Bad(f"status: {done.stderr.strip()[-300:]}")
                    result = "typed" if done.returncode == 2 else "exact"
                elif phase == "grow":
                    with quiet():
                        self.crop(here).grow(verbosity=0)
                    result = "exact"
                else:
                    with quiet():
                        judge_dataset(
                            self.crop(here).reap(allow_incomplete=True), OURS, complete=False
                        )
                    result = "exact"
            finally:
                after = snapshot(outside)
                if after != before:
                    changed = sorted(
                        k for k in set(before) | set(after) if before.get(k) != after.get(k)
                    )
                    raise Bad(f"wrote outside the crop folder through the link: {changed[:3]}")
            if phase in ("grow", "reap") and entry not in ("running.lock",):
                raise Bad(f"{phase} went on through the link {entry}")
            return result

    # a colleague's crop (read-only to this user) and a read-only filesystem
    def access(self) -> Iterator[tuple[str, Callable[[], str]]]:
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            return
        for where in ("a colleague's crop", "a read-only mount"):
            for phase in ("status", "grow", "pool", "exec", "reap-keep", "sow"):
                yield f"{where} {phase}", lambda w=where, p=phase: self._access(w, p)

    def _phase_script(self, here: Path) -> Path:
        script = here / "phase.py"
        script.write_text(
            textwrap.dedent(
                """
                import os, sys, warnings
                warnings.simplefilter("ignore")
                import xyzfarm as xyz
                from advmodel import model
                where, phase, mine = sys.argv[1], sys.argv[2], sys.argv[3]
                os.chdir(where)
                crop = xyz.Crop(fn=model, name="c")
                try:
                    if phase == "setup":
                        crop = xyz.Crop(fn=model, name="c", batchsize=2)
                        crop.sow_combos({"x": [1, 2, 3, 4, 5, 6]})
                        crop.grow([1], verbosity=0)
                    elif phase == "status":
                        crop.status()
                    elif phase == "grow":
                        crop.grow(verbosity=0)
                    elif phase == "pool":
                        crop.grow(num_workers=2, subprocess=True, verbosity=0)
                    elif phase == "exec":
                        crop.grow(num_workers=2, verbosity=0)
                    elif phase == "reap-keep":
                        crop.reap(allow_incomplete=True, clean_up=False)
                    elif phase == "sow":
                        xyz.Crop(fn=model, name="d").sow_combos({"x": [1, 2]})
                    elif phase == "harvest":
                        h = xyz.Harvester(xyz.Runner(model.__wrapped__, "y"), data_name="h.h5")
                        h.harvest_combos({"x": list(range(1000, 3000))})
                    print("OK")
                except xyz.errors.XyzfarmError as exc:
                    print("TYPED", type(exc).__name__)
                """
            )
        )
        script.chmod(0o755)
        return script

    def _judge_child(self, done: subprocess.CompletedProcess[str]) -> str:
        last = (done.stdout.strip().splitlines() or [""])[-1]
        if done.returncode != 0 or not (last == "OK" or last.startswith("TYPED")):
            raise Bad(f"exit {done.returncode}: {(done.stdout + done.stderr).strip()[-300:]}")
        return "exact" if last == "OK" else "typed"

    @contextlib.contextmanager
    def _mounted(self, options: str | None) -> Iterator[tuple[Path, Path, Path] | None]:
        """``(base, parent, script)``: a crop ``c`` sown and half grown, by another process
        (this one must hold no file of it open, or a mount could not be made read-only), in
        ``parent``, on a tmpfs mounted with ``options`` (None: no mount); None if mounting is
        not allowed here."""
        base = Path(tempfile.mkdtemp(prefix="adv-mount-", dir="/tmp"))
        base.chmod(0o755)
        mount = base / "m"
        mount.mkdir()
        mounted = False
        try:
            if options is not None:
                if run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)]).returncode:
                    yield None
                    return
                mounted = True
            parent = mount / "p"
            parent.mkdir()
            script = self._phase_script(base)
            shutil.copy(self.code / "advmodel.py", base / "advmodel.py")
            self._judge_child(
                run([sys.executable, str(script), str(parent), "setup", "-"], env=self._env(base))
            )
            yield base, parent, script
        finally:
            if mounted and run(["umount", str(mount)]).returncode:
                run(["umount", "-l", str(mount)])
            shutil.rmtree(base, ignore_errors=True)

    def _env(self, base: Path) -> dict[str, str]:
        return {
            **self.env,
            "PYTHONPATH": os.pathsep.join([str(base), self.env.get("PYTHONPATH", "")]),
        }

    def _access(self, where: str, phase: str) -> str:
        with self._mounted("size=64m" if where == "a read-only mount" else None) as made:
            if made is None:
                return "exact"  # not allowed here: nothing to judge
            base, parent, script = made
            for path in [base, *base.rglob("*")]:
                with contextlib.suppress(OSError):
                    mode = path.stat().st_mode
                    path.chmod(mode | (0o555 if path.is_dir() else 0o444))
            argv = [sys.executable, str(script), str(parent), phase, str(base)]
            env = self._env(base)
            if where == "a read-only mount":
                if run(["mount", "-o", "remount,ro", str(parent.parent)]).returncode:
                    raise Bad("could not make the mount read-only")
            else:
                env["HOME"] = str(base)
                argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
            return self._judge_child(run(argv, env=env))

    # a full disk and a filesystem without inodes
    def disk(self) -> Iterator[tuple[str, Callable[[], str]]]:
        if os.geteuid() != 0:
            return
        for how in ("no space", "no inodes"):
            for phase in ("sow", "grow", "pool", "exec", "harvest"):
                yield f"{how} {phase}", lambda h=how, p=phase: self._disk(h, p)

    def _disk(self, how: str, phase: str) -> str:
        options = "size=3m" if how == "no space" else "size=64m,nr_inodes=400"
        with self._mounted(options) as made:
            if made is None:
                return "exact"  # not allowed here: nothing to judge
            base, parent, script = made
            mount = parent.parent
            if how == "no space":
                with contextlib.suppress(OSError), open(mount / "fill", "wb") as f:
                    while True:
                        f.write(b"\0" * 65536)
            else:
                for i in range(100000):
                    try:
                        (mount / f"f{i}").touch()
                    except OSError:
                        break
            argv = [sys.executable, str(script), str(parent), phase, str(base)]
            return self._judge_child(run(argv, env=self._env(base)))

    # a checkpoint torn at every offset of a record between two intact ones
    def torn(self) -> Iterator[tuple[str, Callable[[], str]]]:
        with folder("torn-size") as here:
            size = len(self._checkpoint_records(self.crop(here, batchsize=6), here)[1])
        for cut in range(size):
            yield f"cut at byte {cut}", lambda c=cut: self._torn(c)

    def _checkpoint_records(self, crop: Any, here: Path) -> list[bytes]:
        """Three checkpoint records of batch 1 (cases 0-1, case 5, cases 2-4), written by the
        installed release's own record writer."""
        from xyzfarm.folder import records

        if not crop.is_prepared():
            crop.sow_combos({"x": [1, 2, 3, 5, 6, 7]})
        extra: dict[str, Any] = {}
        if "sowing" in inspect.signature(records.frame).parameters:
            from xyzfarm.folder.manifest import Manifest

            extra["sowing"] = Manifest.read(crop.layout).sowing_id
        chunks = [{0: 10.0, 1: 20.0}, {5: 70.0}, {2: 30.0, 3: 50.0, 4: 60.0}]
        return [records.frame({"out": c, "prov": []}, **extra) for c in chunks]

    def _torn(self, cut: int) -> str:
        with folder("torn") as here:
            crop = self.crop(here, batchsize=6)
            first, middle, last = self._checkpoint_records(crop, here)
            (Path(crop.location) / "partial").mkdir(exist_ok=True)
            (Path(crop.location) / "partial" / "1").write_bytes(first + middle[:cut] + last)
            xs = [1, 2, 3, 5, 6, 7]
            with quiet():
                ds = crop.reap(allow_incomplete=True)
            judge_dataset(ds, xs, complete=False)
            present = int(np.isfinite(np.asarray(ds["y"].values, dtype=float)).sum())
            if present < 5:
                raise Bad(f"reap(allow_incomplete) hid {5 - present} checkpointed case(s)")
            calls = here / "calls.txt"
            os.environ["ADV_CALLS"] = str(calls)
            try:
                with quiet():
                    crop.grow(verbosity=0)
            finally:
                del os.environ["ADV_CALLS"]
            computed = calls.read_text().split() if calls.exists() else []
            if computed != ["7"]:
                raise Bad(f"computed {computed}: checkpointed cases computed again")
            with quiet():
                return judge_dataset(crop.reap(), xs, complete=True)

    # kill -9 and SIGTERM of every local grow path
    def kill(self) -> Iterator[tuple[str, Callable[[], str]]]:
        for path in ("in its process", "pool", "process pool", "array task"):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                yield f"{path} {sig.name}", lambda p=path, s=sig: self._kill(p, s)

    def _kill(self, path: str, sig: signal.Signals) -> str:
        with folder("kill") as here:
            pids = here / "pids.txt"
            env = {**self.env, "ADV_PIDS": str(pids), "ADV_CASE_S": "0.1"}
            grow = {
                "in its process": "crop.grow(verbosity=0)",
                "pool": "crop.grow(num_workers=2, subprocess=True, verbosity=0)",
                "process pool": "crop.grow(num_workers=2, verbosity=0)",
                "array task": None,
            }[path]
            sow = textwrap.dedent(
                """
                import xyzfarm as xyz
                from advmodel import spawner
                crop = xyz.Crop(fn=spawner, name="k", batchsize=1)
                crop.sow_combos({"x": list(range(40))})
                """
            )
            (here / "grower.py").write_text(sow + (grow or ""))
            if grow is None:
                done = run([sys.executable, "grower.py"], env=env)
                if done.returncode:
                    raise Bad(f"sowing failed: {done.stderr[-300:]}")
                (here / "map.json").write_text(json.dumps({"tasks": {"0": list(range(1, 41))}}))
                argv = [
                    sys.executable,
                    "-m",
                    "xyzfarm.worker",
                    "task",
                    str(here / ".xyz-k"),
                    "--map",
                    str(here / "map.json"),
                    "--task",
                    "0",
                    "--workers",
                    "2",
                ]
            else:
                argv = [sys.executable, "grower.py"]
            grower = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            started: set[int] = set()
            try:
                deadline = time.monotonic() + 60
                while len(pids.read_text().split()) < 6 if pids.exists() else True:
                    if grower.poll() is not None or time.monotonic() > deadline:
                        raise Bad("the grower ended or never started its cases")
                    time.sleep(0.02)
                grower.send_signal(sig)
                grower.wait(timeout=60)
                started = {int(p) for p in pids.read_text().split()}
                if path == "in its process":
                    # xyzfarm starts no process there: what a case starts in the user's own
                    # process is the user's (as any child of their code), not judged here
                    started = set()
                deadline = time.monotonic() + 10
                while any(alive(p) for p in started) and time.monotonic() < deadline:
                    time.sleep(0.05)
                left = sorted(p for p in started if alive(p))
                if left:
                    raise Bad(f"{len(left)} process(es) outlived the killed grower")
            finally:
                if grower.poll() is None:
                    grower.kill()
                    grower.wait()
                for pid in {int(p) for p in pids.read_text().split()} if pids.exists() else set():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                pids.unlink(missing_ok=True)
            # and growing again finishes the crop exactly
            os.environ.update(ADV_PIDS=str(pids), ADV_CASE_S="0")
            try:
                crop = xyz.Crop(fn=self.m.spawner, name="k")
                with quiet():
                    crop.grow(verbosity=0)
                    return judge_dataset(crop.reap(), list(range(40)), complete=True)
            finally:
                # the cases of the regrow ran here: their helpers are this process's children
                for pid in {int(p) for p in pids.read_text().split()} - {os.getpid()}:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)

    # crafted files and inputs
    def inputs(self) -> Iterator[tuple[str, Callable[[], str]]]:
        yield "submission.json not JSON: cancel", lambda: self._crafted_submission("cancel")
        yield "submission.json not JSON: status", lambda: self._crafted_submission("status")
        for thing in ("d.h5.lock", "d.h5.bak", ".xyz-c.reap.lock"):
            for what in ("a folder", "a link loop"):
                yield f"{thing} is {what}", lambda t=thing, w=what: self._in_the_way(t, w)
        yield "unhashable values in a crop sweep", self._unhashable
        yield "an output named like a coordinate", self._same_name
        yield "a case that segfaults under num_workers", self._crash

    def _crafted_submission(self, command: str) -> str:
        with folder("crafted") as here:
            self.sown(here, OURS, "combos", "one")
            jobs = here / ".xyz-c" / "jobs" / "123"
            jobs.mkdir(parents=True)
            (jobs / "submission.json").write_text("{not json at all")
            argv = [sys.executable, "-m", "xyzfarm", command] + (
                ["c"] if command == "cancel" else []
            )
            done = run(argv, env=self.env)
            if "Traceback" in done.stderr or done.returncode not in (0, 1, 2):
                raise Bad(f"{command}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            return "typed" if done.returncode else "exact"

    def _in_the_way(self, thing: str, what: str) -> str:
        with folder("inway") as here:
            runner = xyz.Runner(
                self.m.model.__wrapped__ if hasattr(self.m.model, "__wrapped__") else self.m.model,
                "y",
            )
            harvester = xyz.Harvester(runner, data_name="d.h5")
            with quiet():
                harvester.harvest_combos({"x": [1, 2]})
            crop = self.sown(here, OURS, "combos", "all") if thing.startswith(".xyz") else None
            path = here / thing
            if what == "a folder":
                path.mkdir()
            else:
                os.symlink(path.name, path)
            with quiet():
                if crop is None:
                    harvester.harvest_combos({"x": [3]})
                    return judge_dataset(xyz.load_ds("d.h5"), [1, 2, 3], complete=True)
                return judge_dataset(crop.reap(), OURS, complete=True)

    def _unhashable(self) -> str:
        with folder("unhashable") as here:
            crop = self.crop(here)
            with quiet():
                crop.sow_combos({"x": [[1], [2]]})
                crop.grow(verbosity=0)
                crop.reap()
            return "exact"

    def _same_name(self) -> str:
        with folder("samename") as here:
            crop = xyz.Crop(fn=self.m.same_name, name="s", parent_dir=str(here))
            with quiet():
                crop.sow_combos({"x": [1, 2]})
                crop.grow(verbosity=0)
                crop.reap()
            return "exact"

    def _crash(self) -> str:
        with folder("crash") as here:
            crop = xyz.Crop(fn=self.m.crash, name="s", batchsize=1, parent_dir=str(here))
            with quiet():
                crop.sow_combos({"x": [1, 2, 3]})
                crop.grow(num_workers=2, verbosity=0)
                judge_dataset(crop.reap(allow_incomplete=True), [1, 2, 3], complete=False)
            return "typed" if crop.status().failed else "exact"


CLASSES = ["twin", "resow", "sow", "links", "access", "disk", "torn", "kill", "inputs"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", default=",".join(CLASSES))
    parser.add_argument("--json", help="write every trial's outcome here")
    args = parser.parse_args(argv)
    code = Path(tempfile.mkdtemp(prefix="adv-code-"))
    (code / "advmodel.py").write_text(MODEL)
    adversary = Adversary(code)
    rows, trials = [], []
    try:
        for name in args.classes.split(","):
            counts = {"exact": 0, "typed": 0, "bad": 0}
            began = time.monotonic()
            for label, trial in getattr(adversary, name)():
                outcome, detail = attempt(trial)
                counts[outcome] += 1
                trials.append({"class": name, "trial": label, "outcome": outcome, "detail": detail})
                if outcome == "bad":
                    print(f"BAD {name}: {label}: {detail}", flush=True)
            total = sum(counts.values())
            rows.append((name, total, counts["exact"], counts["typed"], counts["bad"]))
            print(
                f"{name:8} {total:4} trials: {counts['exact']:4} exact, {counts['typed']:4} "
                f"typed, {counts['bad']:4} bad ({time.monotonic() - began:.0f} s)",
                flush=True,
            )
    finally:
        shutil.rmtree(code, ignore_errors=True)
    print("\n| class | trials | exact | typed | bad |\n|---|---|---|---|---|")
    for name, total, exact, typed, bad in rows:
        print(f"| {name} | {total} | {exact} | {typed} | {bad} |")
    totals = [sum(r[i] for r in rows) for i in range(1, 5)]
    print(f"| **all** | **{totals[0]}** | **{totals[1]}** | **{totals[2]}** | **{totals[3]}** |")
    if args.json:
        Path(args.json).write_text(json.dumps(trials, indent=1))
    return 1 if totals[3] else 0


if __name__ == "__main__":
    sys.exit(main())
