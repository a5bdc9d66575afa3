"""Experiments the lessons run live and the ``fusion-course experiment`` command runs at full size.

A lesson trains what fits its time budget on a laptop CPU; the same code, with more seeds or more
models, writes a small JSON results file (with its command, versions, hardware and date) that the
lesson loads and labels as loaded. One module per experiment:

* :mod:`fusion_course.experiments.fusion_helps`: lesson 05, does fusing encoder levels help segmentation?
* :mod:`fusion_course.experiments.f3net_ablation`: lesson 06, F3Net's fusion, feedback and focus, one at a time;
* :mod:`fusion_course.experiments.mobilenet_fusion`: lesson 07, fusion heads on MobileNetV3-small per resolution;
* :mod:`fusion_course.experiments.fusionnet_ablation`: lesson 08, FusionNet's variants against a plain CNN on a
  32×32 shape × texture task.
"""
