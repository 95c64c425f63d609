"""Bigram detection of a text corpus swept over two gensim parameters into an .h5 file.

Source: MHDLab/SciLitNLP
Path: modeling/lda/hyperparamer_tuning/generate_bigram.py
Commit: 47410ba5e6e6ec3923a42c5c56a100571fea9904
Exercises: xyzpy.Runner with var_names (a list), var_dims={'texts_bigram': ['ID']},
    var_coords={'ID': df.index.values} (an object array of string IDs), and
    constants={'data_vars': var_names} (a list of strings); xyzpy.Harvester(runner,
    data_name=os.path.join(folder, 'texts_bigram_100.h5')); harvest_combos(dict of two numpy
    logspaces, parallel=True, overwrite=True); the outputs are a list of strings per document
    and a float.
Stand-in: gen_bigram() pairs frequent adjacent words of a five-text corpus (_scilitnlp.py)
    instead of gensim.models.Phrases over the project's sqlite database.
Changed: the output folder is relative; combos have 2 x 2 values instead of 4 x 3.
"""
import pandas as pd
import os
import numpy as np
import sys

import xarray as xr
import numpy as np
import xyzpy

import time

from _scilitnlp import load_df, bigram_texts, bigram_fraction as calc_bigram_fraction

def main():

    df = load_df()
    df = df[df['language'] == 'en']

    #%%
    texts = df['processed_text'].values
    texts = [t.split() for t in texts]

    def gen_bigram(data_vars, threshold, min_count):

        texts_bigram = bigram_texts(texts, threshold, min_count)

        bigram_fraction = calc_bigram_fraction(texts_bigram)

        texts_bigram = [" ".join(l) for l in texts_bigram]

        return texts_bigram, bigram_fraction



    var_names=[
    'texts_bigram',
    'bigram_fraction',
    ]

    var_dims = {
        'texts_bigram': ['ID'],
        }

    var_coords = {
        'ID': df.index.values,
        # 'topic': [i+1 for i in list(range(20))]
    }

    runner = xyzpy.Runner(gen_bigram, var_names=var_names, var_dims=var_dims, var_coords=var_coords, constants={'data_vars': var_names})


    output_folder = 'output'
    os.makedirs(output_folder, exist_ok=True)

    h = xyzpy.Harvester(runner, data_name=os.path.join(output_folder,'texts_bigram_100.h5'))


    combos = {
        'threshold': np.logspace(0,3,2),
        'min_count': np.logspace(0,2,2)
        }


    #The data should not conflict, But overwrite just in case
    h.harvest_combos(combos, parallel=True, overwrite=True)

    return h


if __name__ == '__main__':
    h = main()
    RESULTS = {"full_ds": h.full_ds, "last_ds": h.last_ds}
    RESULT_FILES = ['output/texts_bigram_100.h5']
