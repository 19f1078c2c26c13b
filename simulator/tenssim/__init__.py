"""tenssim: the TENS device simulator (firmware model, load model, fault injection).

It may import only :mod:`tensctl.wire` and :mod:`tensctl.model`, except
:mod:`tenssim.driver`, its plugin seam: the ``sim://`` driver that tensctl finds through the
``tensctl.drivers`` entry point.
"""
