"""ImageNet with Sonnet's ResNet-50 (``imagenet-resnet50``).

Modules: :mod:`.model` (the network), :mod:`.index_file` (the release's ``imagenet_index.npz``),
:mod:`.records` (reading indexed TFRecords, 224x224 preprocessing) and :mod:`.builder` (writing
indexed TFRecords from an ImageNet folder tree). Importing this package imports neither TensorFlow
nor Sonnet; the submodules that need them do.
"""
