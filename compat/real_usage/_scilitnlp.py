"""Stand-ins shared by the MHDLab/SciLitNLP harnesses: a tiny corpus and bigram detection.

The project reads processed paper abstracts from an sqlite database and detects bigrams with
gensim; here five short texts and a deterministic pairing rule of our own take their place.
"""

import pandas as pd

TEXTS = [
    "energy storage battery lithium ion battery capacity",
    "thermal energy storage molten salt energy density",
    "lithium ion battery cathode energy density capacity",
    "flow battery vanadium redox energy storage grid",
    "hydrogen energy storage fuel cell grid scale",
]


def load_df():
    """The processed_text table as the project's pd.read_sql_query gives it (index 'ID')."""
    ids = pd.Index(["W1e4a", "W2b07", "W3c99", "W4d10", "W5e3f"], name="ID")
    return pd.DataFrame({"processed_text": TEXTS, "language": "en"}, index=ids)


def bigram_texts(texts, threshold, min_count):
    """Join word pairs seen at least min_count times (threshold scales the count needed)."""
    counts = {}
    for words in texts:
        for pair in zip(words, words[1:]):
            counts[pair] = counts.get(pair, 0) + 1
    need = max(min_count, 1) + (1 if threshold > 10 else 0)
    joined = []
    for words in texts:
        out, i = [], 0
        while i < len(words):
            if i + 1 < len(words) and counts[(words[i], words[i + 1])] >= need:
                out.append(words[i] + "_" + words[i + 1])
                i += 2
            else:
                out.append(words[i])
                i += 1
        joined.append(out)
    return joined


def bigram_fraction(texts_bigram):
    words = [w for doc in texts_bigram for w in doc]
    return sum("_" in w for w in words) / len(words)
