"""A batch of photoelectron fits run in parallel through a Runner, results sorted back.

Source: phockett/PEMtk
Path: pemtk/fit/_parallel.py
Commit: c1be71d7cbb7d000370d9d28dbeaaca48b9e8bb0
Exercises: xyz.Runner(fn, var_names=['results'], resources={'data': obj}, constants={a bool,
    None}); run_combos({'n': list}, parallel=True, num_workers=2); the output of each case is
    a dict (the fit's results), read back with outputs.results.sel({'n': n}).item().
Stand-in: fitClass.fit() stores a dict of numpy results from a seeded generator instead of an
    lmfit fit; the fit class is imported (as pemtk.fit.fitClass is in the project).
Changed: nRange [0, 10] -> [0, 4]; num_workers defaults to 90% of the cores in the project
    (here given: 2); multiFit is called as a function with the fit object, as the project's
    method is called on it. With xyzpy 1.3.5 each dict output becomes data variables named
    by its keys, so `outputs.results` raises AttributeError: what run_combos returned is
    recorded before that line.
"""
# Currently using xyzpy for parallel stuff.
try:
    import xyzpy as xyz
except:
    print("***xyzpy not found, parallel functions not available.")

import multiprocessing as mp

from _standins import FitClass


def multiFit(self, nRange = [0,10],
            parallel = True, num_workers = None,
            randomizeParams = True, seedParams = None):

    #*** Settings
    if num_workers is None:
        num_workers =  round(mp.cpu_count() * 0.9)   # Default to ~90% cores

    #*** Setup XYZPY runner
    combos = {'n': list(range(nRange[0],nRange[1]))}
    data = {'data':self}   # Pass data - may be better to set fitPara as class method? Not sure if that will work with wrapper.

    # With runner class
    r = xyz.Runner(fitPara, var_names=['results'], resources = data, constants = {'randomizeParams':randomizeParams, 'seedParams':seedParams})  # Use constants to pass additional function args.

    #*** Run fits
    outputs = r.run_combos(combos, parallel = parallel, num_workers = num_workers)  # This returns an Xarray Dataset.
    RESULTS["outputs"] = outputs  # (harness: kept before the sorting below reads it)

    #*** Sort results back to main data structure
    # Restack from output > dict form
    # Bit hacky, but works OK.
    for n in outputs.n:
        self.data[n.item()] = outputs.results.sel({'n':n}).item()

    return outputs


def fitPara(data = None, n = None, randomizeParams = True, seedParams = None):
    """
    Wrap self.fit() for XYZPY runner.
    """

    if randomizeParams:
        data.randomizeParams()  # This may not work as is, since it might accidentally overwrite in-use params?
                                # Comment out to give fast test run only
    if seedParams is not None:
        # data.params = data.data[seedParams]['results']    # Should be something like this, just need to pull correct vars.
        print('seedParams not yet implemented.')


    data.fit(fitInd = n)    # This may also need some attention if pointers are shared.

    return data.data[n]  # OK


RESULTS = {}

if __name__ == "__main__":
    fit = FitClass()
    outputs = multiFit(fit, nRange=[0, 4], num_workers=2)

    RESULTS["sorted_back"] = {k: fit.data[k] for k in sorted(fit.data)}
