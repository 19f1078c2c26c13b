"""tenssim: the TENS device simulator (firmware model, load model, fault injection).

It may import only :mod:`tensctl.wire` and :mod:`tensctl.model`. The firmware model and
transports arrive with the simulator issue; today the package holds no behaviour.
"""
