"""PyTorch networks of hnnbio: the denoising autoencoders of the binding loop and their training.

- :mod:`hnnbio.ann.autoencoder`: ``DenoisingAutoencoder``, ``autoencoder_forward``, weights files
  (``save_autoencoder``, ``load_weights``, ``load_autoencoder(spec)``).
- :mod:`hnnbio.ann.train`: pepper-noise training (``TrainingSettings``, ``train_autoencoder``,
  ``fit``); :mod:`hnnbio.binding.training` trains a model spec's autoencoder from its settings.
"""
