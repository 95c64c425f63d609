"""LDA hyper-parameter sweep over texts loaded with xyzpy.load_ds, harvested to a file.

Source: MHDLab/SciLitNLP
Path: modeling/lda/hyperparamer_tuning/gensim_hyperparameter_fulldata.py (after
    generate_bigram.py, which writes the file it loads)
Commit: 47410ba5e6e6ec3923a42c5c56a100571fea9904
Exercises: xyzpy.load_ds of a Harvester's file and .sel(threshold=, min_count=) of it;
    xyzpy.Runner of a function taking **lda_kwargs, with var_names (4 of them), empty
    var_dims and var_coords dicts, constants={'data_vars': var_names}; Harvester with a path
    in a folder; harvest_combos(dict of six keys: single-value lists, a list of ints, numpy
    logspaces, parallel=True, overwrite=True). The function returns more values (8) than
    var_names (4): the project's get_coherence appends t-SNE coordinates, topic keywords and
    topic probabilities after the metrics its var_names list names, and xyzpy 1.3.5 raises
    ValueError('Wrong number of results (8) for 4 var_names'): what is compared is that
    xyzfarm raises the same kind of error.
Stand-in: get_coherence() computes its metrics from word counts instead of training gensim's
    LdaModel (same number and types of returned values); the texts file is made as in
    SciLitNLP__generate_bigram.
Changed: the output folder is relative; combos have 2 x 2 x 2 values instead of 20 x 3 x 3.
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


def generate_bigram(output_folder):
    """generate_bigram.py, as in SciLitNLP__generate_bigram."""
    df = load_df()
    texts = [t.split() for t in df['processed_text'].values]

    def gen_bigram(data_vars, threshold, min_count):
        texts_bigram = bigram_texts(texts, threshold, min_count)
        bigram_fraction = calc_bigram_fraction(texts_bigram)
        texts_bigram = [" ".join(l) for l in texts_bigram]
        return texts_bigram, bigram_fraction

    var_names = ['texts_bigram', 'bigram_fraction']
    var_dims = {'texts_bigram': ['ID']}
    var_coords = {'ID': df.index.values}
    runner = xyzpy.Runner(gen_bigram, var_names=var_names, var_dims=var_dims, var_coords=var_coords, constants={'data_vars': var_names})
    h = xyzpy.Harvester(runner, data_name=os.path.join(output_folder,'texts_bigram_100.h5'))
    h.harvest_combos({'threshold': [100], 'min_count': [10, 1]}, parallel=True, overwrite=True)


def main():

    dataset_name = 'texts_bigram_100.h5'
    output_folder = 'output'
    os.makedirs(output_folder, exist_ok=True)
    generate_bigram(output_folder)

    ds_texts = xyzpy.load_ds(os.path.join(output_folder,dataset_name))

    # ds_texts = ds_texts.isel(ID=slice(0,100))

    IDs = ds_texts.coords['ID'].values

    def get_coherence(data_vars, threshold, min_count, alpha_prefactor,**lda_kwargs):

        texts_bigram = ds_texts['texts_bigram'].sel(threshold=threshold, min_count=min_count).values

        texts_bigram = [t.split() for t in texts_bigram]

        lda_kwargs['alpha'] = alpha_prefactor/lda_kwargs['num_topics']

        # stand-in for the LdaModel and its metrics
        n_words = sum(len(t) for t in texts_bigram)
        vocab = sorted({w for t in texts_bigram for w in t})
        metrics = []

        if 'perplexity' in data_vars:
            metrics.append(-np.log(len(vocab)) * lda_kwargs['eta'] / lda_kwargs['passes'])

        if 'coherence_cv' in data_vars:
            metrics.append(lda_kwargs['alpha'] * len(vocab) / n_words)

        if 'coherence_umass' in data_vars:
            metrics.append(-lda_kwargs['num_topics'] / n_words)

        if 'bigram_fraction' in data_vars:
            metrics.append(sum('_' in w for t in texts_bigram for w in t) / n_words)

        return_val = tuple(metrics)

        num_topics = lda_kwargs['num_topics']
        rng = np.random.default_rng(num_topics)
        df_topickeywords = pd.Series(["-".join(vocab[i::num_topics][:3]) for i in range(num_topics)])
        doc_topic_probs = rng.dirichlet(np.ones(num_topics), size=len(IDs))
        tsne_x, tsne_y = rng.random(len(IDs)), rng.random(len(IDs))
        return_val = return_val + tuple([tsne_x, tsne_y, df_topickeywords.values, doc_topic_probs])

        return return_val

    var_names=[
    'perplexity',
    'coherence_cv',
    'coherence_umass',
    # 'ex_time' #Gives inconsistent results...
    'bigram_fraction',
    # 'tsne_x',
    # 'tsne_y',
    # 'topic_keywords',
    # 'doc_topic_probs'
    ]

    var_dims = {
        # 'tsne_x': ['ID'],
        # 'tsne_y': ['ID'],
        # 'topic_keywords': ['topic'],
        # 'doc_topic_probs': ['ID', 'topic']
        }

    var_coords = {
        # 'ID': IDs,
        # 'topic': [i+1 for i in list(range(20))]
    }

    runner = xyzpy.Runner(get_coherence, var_names=var_names, var_dims=var_dims, var_coords=var_coords, constants={'data_vars': var_names})

    h = xyzpy.Harvester(runner, data_name=os.path.join(output_folder,'lda_hyper_20210127_topics.h5'))

    combos = {
        'passes': [3],
        'num_topics': [int(n) for n in np.logspace(0.5,0.9,2)],
        # 'alpha': np.logspace(-2,0,5),
        'alpha_prefactor': np.logspace(0,2,2),
        'eta': np.logspace(-2.5,-.5,2),
        'threshold': [100],
        'min_count': [10]
        }

    #The data should not conflict, But overwrite just in case
    h.harvest_combos(combos, parallel=True, overwrite=True)

    return ds_texts, h


if __name__ == '__main__':
    ds_texts, h = main()
    RESULTS = {"ds_texts": ds_texts, "full_ds": h.full_ds}
    RESULT_FILES = ['output/lda_hyper_20210127_topics.h5']
