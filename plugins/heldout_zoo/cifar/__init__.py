"""CIFAR-10 / CIFAR-100 with the released SmallInception network (``cifar10-inception``,
``cifar100-inception``).

Modules: :mod:`.model` (the network, checkpoint-compatible with the release), :mod:`.data`
(binary / tar.gz / TFDS readers and the tf.data pipeline). Importing this package imports neither
TensorFlow nor Sonnet; the submodules do.
"""
