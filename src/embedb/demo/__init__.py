"""``make demo``: the whole EmbeDB story on the embedded default, with real data and real models.

1. Ingest the revdict corpus (20,000 WordNet synsets, shipped in the package) with a
   cheap LSA model trained on it, registered as ``embedder@champion``.
2. Register MiniLM as the challenger and backfill it while searches keep being answered.
3. Measure both offline on the labelled queries.
4. Run an interleaving experiment on live traffic, with clicks simulated from the qrels.
5. Read the verdict, promote the winner, roll back, promote again — each in milliseconds.
6. Print the alias history: who moved what, when and why.

Act two, the loop (``loop``): monitoring per version; a drift test on the query
stream, calm and then turned to one subject; MiniLM fine-tuned on the clicks the
experiment logged, backfilled, and run through an experiment by a policy whose
offline gate uses queries never trained on; a degraded model that simulated users
click anyway, refused by the same gate.

Run it with ``python -m embedb.demo`` (``make demo`` does). Nothing is downloaded.

The demo is an application of the public API (``embedb``, ``embedb.datasets``,
``embedb.models``): no library module imports it. ``ingest`` holds steps 1-2,
``lifecycle`` steps 3-6, ``loop`` act two, ``output`` the console they print to, and
``__main__`` runs them in order.
"""

COLLECTION = "definitions"
FIELD = "embedding"
CHAMPION = "embedder@champion"
CHALLENGER = "embedder@challenger"
