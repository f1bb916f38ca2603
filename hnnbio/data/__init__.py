"""Data sets of hnnbio, below everything that trains or runs (imports only ``hnnbio.errors``).

- :mod:`hnnbio.data.datasets`: the binding sets, generated and cached (``generate``,
  ``generate_moving``, ``n_objects``): bars, shapes, corners, mnist_shape, multi_mnist.
- :mod:`hnnbio.data.shapes`: object templates and the vectorised drawing of the generated sets.
- :mod:`hnnbio.data.idx`: IDX files (a user's MNIST) and the MNIST-based binding sets.
- :mod:`hnnbio.data.digits`: scikit-learn's bundled 8 x 8 digits with a fixed train / eval split.
"""
